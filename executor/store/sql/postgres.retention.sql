-- Named queries of retention on PostgreSQL: deleting old finished runs page by page
-- (`Store.purge_runs`) and the leases of the chores one instance of a fleet does at a time
-- (`Store.take_chore`). "Now" is the database's clock unless the store was given one (:now).
-- The space of deleted rows is reused once autovacuum has been through (nothing to do here).

-- name: _purge_cutoff
(COALESCE(to_timestamp(%(now)s), now()) - make_interval(secs => %(older_than)s))

-- name: _purge_window
finished_at IS NOT NULL AND finished_at < (COALESCE(to_timestamp(%(now)s), now()) - make_interval(secs => %(older_than)s))
AND (finished_at, id) > (to_timestamp(%(after_at)s), %(after_id)s::uuid)

-- name: _purge_page_columns
id, extract(epoch FROM finished_at)::float8 AS finished_at,
(%(status)s::text IS NULL OR status = %(status)s) AS chosen

-- name: purge_page
-- Finished before the cutoff, after the cursor: a range of the (finished_at, id) indexes.
-- The next page of the oldest finished runs of every workflow (index runs_by_finished). A
-- page has :limit runs whatever the filters, so that a page costs the same however few of
-- its runs match: :status only says which are chosen.
-- Ordered by the table's columns (runs.finished_at): the bare name would be the output
-- column of that name, the epoch computed from it, which no index has (a sort of every run).
SELECT {purge_page_columns} FROM runs WHERE {purge_window}
ORDER BY runs.finished_at, runs.id LIMIT %(limit)s

-- name: purge_page_of_workflow
-- As purge_page, for one workflow (index runs_by_workflow_finished): runs of workflows that
-- keep theirs longer are never read.
SELECT {purge_page_columns} FROM runs WHERE workflow_name = %(workflow)s AND {purge_window}
ORDER BY runs.finished_at, runs.id LIMIT %(limit)s

-- name: _purgeable
-- "No unfinished parent" as an anti-join on the parent's key: written as "no parent, or a
-- finished one", PostgreSQL's generic plan of the prepared statement (psycopg prepares it
-- after a few pages) hashed every finished run for it, a whole scan per page.
r.finished_at IS NOT NULL AND r.finished_at < (COALESCE(to_timestamp(%(now)s), now()) - make_interval(secs => %(older_than)s))
AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = r.parent_run_id AND p.finished_at IS NULL)

-- name: purge_runs
-- Those of the chosen runs (:ids) that can go now, with their steps, logs and signals (ON
-- DELETE CASCADE): still finished before the cutoff (read again: a retried run is not
-- finished any more), its parent finished (an unfinished parent still waits for it), and no
-- child run left (their parent_run_id refers to it). Run it again until it deletes nothing,
-- so that a parent goes right after its children, in the same transaction.
-- A run another transaction holds (a retry) is waited for, then judged as it is then.
DELETE FROM runs AS r
WHERE r.id = ANY(%(ids)s::uuid[]) AND {purgeable}
  AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = r.id)

-- name: count_purgeable
-- What purge_runs would delete of :ids, without deleting: a run whose child runs would all
-- be deleted too (finished before the cutoff, with the status and of the workflow asked for).
SELECT count(*) AS purgeable FROM runs AS r
WHERE r.id = ANY(%(ids)s::uuid[]) AND {purgeable}
  AND NOT EXISTS (
      SELECT 1 FROM runs c
      WHERE c.parent_run_id = r.id
        AND NOT (c.finished_at IS NOT NULL AND c.finished_at < {purge_cutoff}
                 AND (%(status)s::text IS NULL OR c.status = %(status)s)
                 AND (%(workflow)s::text IS NULL OR c.workflow_name = %(workflow)s)))

-- name: take_chore
-- Taken when nobody holds it (or the holder's lease ran out) and it was not done within
-- :every seconds; renewed by its holder. No row back: someone else has it, or it is not due.
-- Two instances taking it at once: the second waits for the first's row, then finds it held.
INSERT INTO chores (name, owner, expires_at)
VALUES (%(name)s, %(owner)s,
        COALESCE(to_timestamp(%(now)s), now()) + make_interval(secs => %(lease)s))
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE chores.owner = excluded.owner
   OR ((chores.owner IS NULL OR chores.expires_at <= COALESCE(to_timestamp(%(now)s), now()))
       AND (chores.last_done IS NULL
            OR chores.last_done <= COALESCE(to_timestamp(%(now)s), now()) - make_interval(secs => %(every)s)))
RETURNING name

-- name: finish_chore
UPDATE chores SET owner = NULL, expires_at = NULL,
    last_done = CASE WHEN %(done)s THEN COALESCE(to_timestamp(%(now)s), now()) ELSE last_done END
WHERE name = %(name)s AND owner = %(owner)s
