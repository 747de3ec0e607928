-- Named queries of mutual exclusion (key_holds) for PostgreSQL. What a transaction does
-- under a key it does after `lock_keys`: instances change one key's rows one at a time.

-- name: lock_keys
-- Transaction-scoped; several keys in one order (their text), so that two transactions
-- locking the same keys never wait for each other in a cycle.
SELECT pg_advisory_xact_lock(hashtext('executor.key:' || k))
FROM (SELECT DISTINCT k FROM unnest(%(keys)s::text[]) AS k ORDER BY k) AS keys

-- name: _place_columns
h.key, h.run_id, h.step, s.step_id, h.lim, h.holding,
extract(epoch FROM h.created_at)::float8 AS created_at,
extract(epoch FROM h.held_at)::float8 AS held_at,
CASE WHEN h.holding THEN 0 ELSE (SELECT count(*) FROM key_holds w
                                 WHERE w.key = h.key AND NOT w.holding AND w.id <= h.id) END AS position

-- name: key_place
SELECT {place_columns} FROM key_holds h LEFT JOIN steps s ON s.id = h.step
WHERE h.key = %(key)s AND h.run_id = %(run_id)s AND COALESCE(h.step, -1) = COALESCE(%(step)s::bigint, -1)

-- name: take_place
-- Let in at once only when nobody waits (FIFO) and fewer hold the key than its limit and
-- than each holder's own (a mutex held keeps a semaphore of the same key out).
INSERT INTO key_holds (key, run_id, step, lim, holding, created_at, held_at)
SELECT %(key)s, %(run_id)s, %(step)s, %(limit)s, free, COALESCE(to_timestamp(%(now)s), now()),
       CASE WHEN free THEN COALESCE(to_timestamp(%(now)s), now()) END
FROM (SELECT (SELECT count(*) FROM key_holds WHERE key = %(key)s AND holding)
             < (SELECT min(m) FROM (SELECT %(limit)s AS m UNION ALL
                                    SELECT lim FROM key_holds WHERE key = %(key)s AND holding) AS l)
             AND NOT EXISTS (SELECT 1 FROM key_holds WHERE key = %(key)s AND NOT holding) AS free) AS f

-- name: run_place_keys
SELECT key FROM key_holds WHERE run_id = %(run_id)s AND step IS NULL

-- name: step_place_keys
SELECT key FROM key_holds WHERE step = %(step)s

-- name: leave_run_places
DELETE FROM key_holds WHERE run_id = %(run_id)s AND step IS NULL

-- name: leave_step_places
DELETE FROM key_holds WHERE step = %(step)s

-- name: key_head
-- The next in line, how many hold the key now, and the smallest limit among them.
SELECT id, lim, (SELECT count(*) FROM key_holds WHERE key = %(key)s AND holding) AS holders,
       (SELECT min(lim) FROM key_holds WHERE key = %(key)s AND holding) AS tightest
FROM key_holds WHERE key = %(key)s AND NOT holding ORDER BY id LIMIT 1

-- name: let_in
UPDATE key_holds SET holding = true, held_at = COALESCE(to_timestamp(%(now)s), now()) WHERE id = %(id)s
RETURNING run_id, step

-- name: places_under
-- Holders first (oldest first), then the line, head first.
SELECT {place_columns} FROM key_holds h LEFT JOIN steps s ON s.id = h.step
WHERE h.key = %(key)s ORDER BY h.holding DESC, h.id

-- name: run_places
SELECT {place_columns} FROM key_holds h LEFT JOIN steps s ON s.id = h.step
WHERE h.run_id = %(run_id)s::uuid ORDER BY h.id

-- name: kept_places
-- Places kept for a stopped attempt (see `Store.kept_places`): their step, or their run,
-- final for longer than %(age)s seconds. key_holds holds only live places: a short scan.
SELECT h.run_id, h.step FROM key_holds h JOIN steps s ON s.id = h.step
WHERE s.status IN ('succeeded', 'failed', 'skipped', 'cancelled')
  AND s.finished_at < COALESCE(to_timestamp(%(now)s), now()) - make_interval(secs => %(age)s)
UNION ALL
SELECT h.run_id, NULL FROM key_holds h JOIN runs r ON r.id = h.run_id
WHERE h.step IS NULL AND r.status IN ('succeeded', 'failed', 'cancelled')
  AND r.finished_at < COALESCE(to_timestamp(%(now)s), now()) - make_interval(secs => %(age)s)
LIMIT %(limit)s
