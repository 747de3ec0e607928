-- Named queries of mutual exclusion (key_holds) for SQLite. Every transaction holds the
-- database's write lock, so a key's rows need no lock of their own.

-- name: _place_columns
h.key, h.run_id, h.step, s.step_id, h.lim, h.holding, h.created_at, h.held_at,
CASE WHEN h.holding THEN 0 ELSE (SELECT count(*) FROM key_holds w
                                 WHERE w.key = h.key AND NOT w.holding AND w.id <= h.id) END AS position

-- name: key_place
SELECT {place_columns} FROM key_holds h LEFT JOIN steps s ON s.id = h.step
WHERE h.key = :key AND h.run_id = :run_id AND COALESCE(h.step, -1) = COALESCE(:step, -1)

-- name: take_place
-- Let in at once only when nobody waits (FIFO) and fewer hold the key than its limit and
-- than each holder's own (a mutex held keeps a semaphore of the same key out).
INSERT INTO key_holds (key, run_id, step, lim, holding, created_at, held_at)
SELECT :key, :run_id, :step, :limit, free, :now, CASE WHEN free THEN :now END
FROM (SELECT (SELECT count(*) FROM key_holds WHERE key = :key AND holding)
             < (SELECT min(m) FROM (SELECT :limit AS m UNION ALL
                                    SELECT lim FROM key_holds WHERE key = :key AND holding) AS l)
             AND NOT EXISTS (SELECT 1 FROM key_holds WHERE key = :key AND NOT holding) AS free)

-- name: run_place_keys
SELECT key FROM key_holds WHERE run_id = :run_id AND step IS NULL

-- name: step_place_keys
SELECT key FROM key_holds WHERE step = :step

-- name: leave_run_places
DELETE FROM key_holds WHERE run_id = :run_id AND step IS NULL

-- name: leave_step_places
DELETE FROM key_holds WHERE step = :step

-- name: key_head
-- The next in line, how many hold the key now, and the smallest limit among them.
SELECT id, lim, (SELECT count(*) FROM key_holds WHERE key = :key AND holding) AS holders,
       (SELECT min(lim) FROM key_holds WHERE key = :key AND holding) AS tightest
FROM key_holds WHERE key = :key AND NOT holding ORDER BY id LIMIT 1

-- name: let_in
UPDATE key_holds SET holding = 1, held_at = :now WHERE id = :id
RETURNING run_id, step

-- name: places_under
-- Holders first (oldest first), then the line, head first.
SELECT {place_columns} FROM key_holds h LEFT JOIN steps s ON s.id = h.step
WHERE h.key = :key ORDER BY h.holding DESC, h.id

-- name: run_places
SELECT {place_columns} FROM key_holds h LEFT JOIN steps s ON s.id = h.step
WHERE h.run_id = :run_id ORDER BY h.id

-- name: kept_places
-- Places kept for a stopped attempt (see `Store.kept_places`): their step, or their run,
-- final for longer than :age seconds. key_holds holds only live places: a short scan.
-- CROSS JOIN: from key_holds, each place's row looked up. With JOIN, SQLite's planner
-- started from the finished runs (runs_by_status) and read every one kept, on every
-- reaping pass (0.3-0.9 s with 1,000,000 runs: the service stood still meanwhile).
SELECT h.run_id, h.step FROM key_holds h CROSS JOIN steps s ON s.id = h.step
WHERE s.status IN ('succeeded', 'failed', 'skipped', 'cancelled') AND s.finished_at < :now - :age
UNION ALL
SELECT h.run_id, NULL FROM key_holds h CROSS JOIN runs r ON r.id = h.run_id
WHERE h.step IS NULL AND r.status IN ('succeeded', 'failed', 'cancelled') AND r.finished_at < :now - :age
LIMIT :limit
