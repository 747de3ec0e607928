-- Named queries of retention on SQLite: deleting old finished runs page by page
-- (`Store.purge_runs`), giving the freed pages back to the file (`Store.reclaim_space`), and
-- the leases of the chores one instance does at a time (`Store.take_chore`).

-- name: _purge_window
finished_at IS NOT NULL AND finished_at < :before AND (finished_at, id) > (:after_at, :after_id)

-- name: purge_page
-- Finished before the cutoff, after the cursor: a range of the (finished_at, id) indexes.
-- The next page of the oldest finished runs of every workflow (index runs_by_finished). A
-- page has :limit runs whatever the filters, so that a page costs the same however few of
-- its runs match: :status only says which are chosen.
SELECT id, finished_at, (:status IS NULL OR status = :status) AS chosen
FROM runs WHERE {purge_window}
ORDER BY finished_at, id LIMIT :limit

-- name: purge_page_of_workflow
-- As purge_page, for one workflow (index runs_by_workflow_finished): runs of workflows that
-- keep theirs longer are never read.
SELECT id, finished_at, (:status IS NULL OR status = :status) AS chosen
FROM runs WHERE workflow_name = :workflow AND {purge_window}
ORDER BY finished_at, id LIMIT :limit

-- name: _purgeable
-- No unfinished parent: a lookup of the parent's key (as on PostgreSQL).
r.finished_at IS NOT NULL AND r.finished_at < :before
AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = r.parent_run_id AND p.finished_at IS NULL)

-- name: purge_runs
-- Those of the chosen runs (:ids) that can go now, with their steps, logs and signals (ON
-- DELETE CASCADE): still finished before the cutoff (read again: a retried run is not
-- finished any more), its parent finished (an unfinished parent still waits for it), and no
-- child run left (their parent_run_id refers to it). Run it again until it deletes nothing,
-- so that a parent goes right after its children, in the same transaction.
DELETE FROM runs AS r
WHERE r.id IN (SELECT value FROM json_each(:ids)) AND {purgeable}
  AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id)

-- name: count_purgeable
-- What purge_runs would delete of :ids, without deleting: a run whose child runs would all
-- be deleted too (finished before the cutoff, with the status and of the workflow asked for).
SELECT count(*) AS purgeable FROM runs AS r
WHERE r.id IN (SELECT value FROM json_each(:ids)) AND {purgeable}
  AND NOT EXISTS (
      SELECT 1 FROM runs c
      WHERE c.parent_run_id = r.id
        AND NOT (c.finished_at IS NOT NULL AND c.finished_at < :before
                 AND (:status IS NULL OR c.status = :status)
                 AND (:workflow IS NULL OR c.workflow_name = :workflow)))

-- name: free_pages
PRAGMA freelist_count

-- name: incremental_vacuum
-- At most 1,000 pages (4 MB) a transaction: the write lock is held a few milliseconds.
PRAGMA incremental_vacuum(1000)

-- name: take_chore
-- Taken when nobody holds it (or the holder's lease ran out) and it was not done within
-- :every seconds; renewed by its holder. No row back: someone else has it, or it is not due.
INSERT INTO chores (name, owner, expires_at) VALUES (:name, :owner, :now + :lease)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE chores.owner = excluded.owner
   OR ((chores.owner IS NULL OR chores.expires_at <= :now)
       AND (chores.last_done IS NULL OR chores.last_done <= :now - :every))
RETURNING name

-- name: finish_chore
UPDATE chores SET owner = NULL, expires_at = NULL,
    last_done = CASE WHEN :done THEN :now ELSE last_done END
WHERE name = :name AND owner = :owner

-- name: auto_vacuum
PRAGMA auto_vacuum

-- name: incremental_vacuum_page
-- One page back to the file system per step (the statement frees one page each time it runs
-- from Python, whatever its argument says).
PRAGMA incremental_vacuum(1)
