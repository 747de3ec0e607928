-- Named queries of the PostgreSQL store. Times cross the boundary as Unix seconds: read
-- with extract(epoch ...), written with to_timestamp(...). "Now" is the database's clock
-- (so that every instance of a fleet measures leases on one clock): now(), the start of the
-- transaction, and clock_timestamp() in the claim (see there). A store given a clock (tests
-- move it) sends its time as the parameter now instead; otherwise now is NULL.

-- name: register_instance
INSERT INTO instances (id, host, pid, version, state, started_at, heartbeat_at, heartbeat_timeout)
VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, %(state)s, COALESCE(to_timestamp(%(now)s), now()),
        COALESCE(to_timestamp(%(now)s), now()), %(heartbeat_timeout)s)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, version = excluded.version,
    state = excluded.state, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
    heartbeat_timeout = excluded.heartbeat_timeout

-- name: heartbeat
UPDATE instances SET state = %(state)s, heartbeat_at = COALESCE(to_timestamp(%(now)s), now()) WHERE id = %(id)s

-- name: _instance_columns
id, host, pid, version, state, extract(epoch FROM started_at)::float8 AS started_at,
extract(epoch FROM heartbeat_at)::float8 AS heartbeat_at, heartbeat_timeout

-- name: list_instances
SELECT {instance_columns} FROM instances ORDER BY instances.started_at, instances.id

-- name: steps_in_flight
-- Read from the partial index of running rows (steps_leases).
SELECT lease_owner, count(*) AS steps FROM steps
WHERE status = 'running' AND lease_owner IS NOT NULL
GROUP BY lease_owner

-- name: ping
SELECT 1

-- name: listen
LISTEN executor_work

-- name: notify_work
-- Delivered when the transaction commits; several in one transaction arrive once.
NOTIFY executor_work

-- name: expire_owner_leases
UPDATE steps SET lease_expires_at = COALESCE(to_timestamp(%(now)s), now()) - interval '1 second'
WHERE lease_owner = %(owner)s AND status = 'running'

-- name: stop_instance
UPDATE instances SET state = 'stopped' WHERE id = %(id)s

-- name: stop_silent_instances
-- Each judged by its own heartbeat timeout (an older version's by :unknown_timeout).
UPDATE instances SET state = 'stopped'
WHERE state != 'stopped' AND id != %(self)s
  AND heartbeat_at < COALESCE(to_timestamp(%(now)s), now())
                     - make_interval(secs => COALESCE(heartbeat_timeout, %(unknown_timeout)s))
RETURNING id

-- name: dead_local_instances
SELECT {instance_columns} FROM instances WHERE host = %(host)s AND state != 'stopped'

-- name: _workflow_columns
name, version, digest, source, definition, extract(epoch FROM created_at)::float8 AS created_at

-- name: workflow_by_digest
SELECT {workflow_columns} FROM workflows WHERE name = %(name)s AND digest = %(digest)s

-- name: lock_workflow_name
SELECT pg_advisory_xact_lock(hashtext('executor.workflow:' || %(name)s))

-- name: insert_workflow
INSERT INTO workflows (name, version, digest, source, definition, created_at)
SELECT %(name)s, coalesce(max(version), 0) + 1, %(digest)s, %(source)s, %(definition)s,
       COALESCE(to_timestamp(%(now)s), now())
FROM workflows WHERE name = %(name)s
RETURNING {workflow_columns}

-- name: latest_workflow
SELECT {workflow_columns} FROM workflows WHERE name = %(name)s ORDER BY version DESC LIMIT 1

-- name: workflow_version
SELECT {workflow_columns} FROM workflows WHERE name = %(name)s AND version = %(version)s

-- name: workflow_versions
SELECT name, version, digest, extract(epoch FROM created_at)::float8 AS created_at
FROM workflows WHERE name = %(name)s ORDER BY version DESC

-- name: list_workflows
SELECT DISTINCT ON (name) {workflow_columns} FROM workflows ORDER BY name, version DESC

-- name: _run_columns
id, workflow_name, workflow_version, status, input, outputs, error, idempotency_key, priority,
parent_run_id, parent_step, extract(epoch FROM deadline_at)::float8 AS deadline_at,
extract(epoch FROM created_at)::float8 AS created_at,
extract(epoch FROM started_at)::float8 AS started_at,
extract(epoch FROM finished_at)::float8 AS finished_at,
trigger, schedule_id, extract(epoch FROM schedule_tick)::float8 AS schedule_tick, traceparent

-- name: _step_columns
s.id, s.run_id, s.step_id, s.item_index, s.status, s.attempt,
extract(epoch FROM s.available_at)::float8 AS available_at, s.lease_owner, s.lease_token,
extract(epoch FROM s.lease_expires_at)::float8 AS lease_expires_at, s.state, s.output, s.error,
extract(epoch FROM s.created_at)::float8 AS created_at,
extract(epoch FROM s.started_at)::float8 AS started_at,
extract(epoch FROM s.finished_at)::float8 AS finished_at, s.history

-- name: get_run
SELECT {run_columns} FROM runs WHERE id = %(id)s

-- name: lock_run
SELECT {run_columns} FROM runs WHERE id = %(id)s FOR UPDATE

-- name: lock_runs
-- In id order: transactions that lock several runs lock them in the same order.
SELECT {run_columns} FROM runs WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id FOR UPDATE

-- name: prefetch_steps
-- One arm per index (the primary key; the run's step ids), not one WHERE with OR: with OR
-- the planner read every step row (1.5 s with 10,000,000 kept). A row both arms find comes
-- twice, the same.
SELECT {step_columns} FROM steps s WHERE s.id = ANY(%(ids)s::bigint[])
UNION ALL
SELECT {step_columns} FROM unnest(%(run_ids)s::uuid[], %(step_ids)s::text[]) AS k (run_id, step_id)
JOIN steps s ON s.run_id = k.run_id AND s.step_id = k.step_id AND s.item_index = -1

-- name: list_runs
-- Its WHERE: the runs_if_* conditions the filter sets, joined by AND (`common.run_filter`).
SELECT {run_columns} FROM runs WHERE /* run_filter */
ORDER BY runs.created_at DESC, runs.id DESC
LIMIT %(limit)s

-- name: count_runs
SELECT count(*) AS runs FROM runs WHERE /* run_filter */

-- Conditions of `common.run_filter`: one expression each, without comments. The cursor
-- (runs_if_before) is a row value, read as a range of the (created_at DESC, id DESC) indexes.

-- name: runs_if_workflow
workflow_name = %(workflow)s

-- name: runs_if_status
status = %(status)s

-- name: runs_if_statuses
status = ANY(%(statuses)s::text[])

-- name: runs_if_trigger
trigger = %(trigger)s

-- name: runs_if_since
created_at >= to_timestamp(%(since)s)

-- name: runs_if_until
created_at < to_timestamp(%(until)s)

-- name: runs_if_parent
parent_run_id = %(parent)s::uuid

-- name: runs_if_before
(created_at, id) < (to_timestamp(%(before_at)s), %(before_id)s::uuid)

-- name: run_counts
SELECT workflow_name, status, count(*) AS runs FROM runs GROUP BY workflow_name, status

-- name: run_steps
SELECT {step_columns} FROM steps s WHERE s.run_id = %(run_id)s ORDER BY s.id

-- name: step_results
SELECT step_id, status, output FROM steps WHERE run_id = %(run_id)s AND item_index = -1

-- name: get_step
SELECT {step_columns} FROM steps s WHERE s.id = %(id)s

-- name: step_rows
SELECT {step_columns} FROM steps s
WHERE s.run_id = %(run_id)s AND s.item_index = -1 AND s.step_id = ANY(%(ids)s)

-- name: items
SELECT {step_columns} FROM steps s
WHERE s.run_id = %(run_id)s AND s.step_id = %(step_id)s AND s.item_index >= 0 ORDER BY s.item_index

-- name: item
SELECT {step_columns} FROM steps s
WHERE s.run_id = %(run_id)s AND s.step_id = %(step_id)s AND s.item_index = %(index)s

-- name: items_from
SELECT {step_columns} FROM steps s
WHERE s.run_id = %(run_id)s AND s.step_id = %(step_id)s
  AND s.item_index >= %(first)s AND s.item_index < %(first)s + %(count)s
ORDER BY s.item_index

-- name: unfinished_steps
SELECT count(*) AS unfinished FROM steps
WHERE run_id = %(run_id)s AND item_index = -1 AND status IN ('pending', 'queued', 'running', 'waiting')

-- name: insert_run
-- Any conflict (an idempotency key taken, a schedule's tick already run) creates nothing.
INSERT INTO runs (id, workflow_name, workflow_version, status, input, idempotency_key, priority,
                  parent_run_id, parent_step, deadline_at, created_at,
                  trigger, schedule_id, schedule_tick, traceparent)
VALUES (%(id)s, %(workflow_name)s, %(workflow_version)s, 'pending', %(input)s, %(idempotency_key)s,
        %(priority)s, %(parent_run_id)s, %(parent_step)s, to_timestamp(%(deadline_at)s),
        COALESCE(to_timestamp(%(now)s), now()),
        %(trigger)s, %(schedule_id)s, to_timestamp(%(schedule_tick)s), %(traceparent)s)
ON CONFLICT DO NOTHING
RETURNING {run_columns}

-- name: find_run
SELECT {run_columns} FROM runs WHERE workflow_name = %(workflow_name)s AND idempotency_key = %(key)s

-- name: find_tick_run
SELECT {run_columns} FROM runs
WHERE workflow_name = %(workflow_name)s AND schedule_id = %(schedule_id)s
  AND schedule_tick = to_timestamp(%(tick)s)

-- name: child_runs
SELECT {run_columns} FROM runs WHERE parent_run_id = %(run_id)s ORDER BY runs.created_at, runs.id

-- name: insert_runs
-- Every run in one statement (`insert_run`'s parameters as arrays), in their order; any
-- conflict (an idempotency key taken, a schedule's tick already run) creates nothing of that
-- run, and `insert_steps_of_runs` adds no rows to it.
INSERT INTO runs (id, workflow_name, workflow_version, status, input, idempotency_key, priority,
                  parent_run_id, parent_step, deadline_at, created_at,
                  trigger, schedule_id, schedule_tick, traceparent)
SELECT v.id, v.workflow_name, v.workflow_version, 'pending', v.input, v.idempotency_key,
       v.priority, v.parent_run_id, v.parent_step, to_timestamp(v.deadline_at),
       COALESCE(to_timestamp(%(now)s), now()),
       v.trigger, v.schedule_id, to_timestamp(v.schedule_tick), v.traceparent
FROM unnest(%(ids)s::uuid[], %(workflow_names)s::text[], %(workflow_versions)s::int[],
            %(inputs)s::jsonb[], %(idempotency_keys)s::text[], %(priorities)s::int[],
            %(parent_run_ids)s::uuid[], %(parent_steps)s::bigint[], %(deadline_ats)s::float8[],
            %(triggers)s::text[], %(schedule_ids)s::text[], %(schedule_ticks)s::float8[],
            %(traceparents)s::text[])
     WITH ORDINALITY AS v(id, workflow_name, workflow_version, input, idempotency_key, priority,
                          parent_run_id, parent_step, deadline_at, trigger, schedule_id,
                          schedule_tick, traceparent, n)
ORDER BY v.n
ON CONFLICT DO NOTHING
RETURNING {run_columns}

-- name: insert_steps_of_runs
-- The step rows of several runs in one statement, in their order; only of runs that exist
-- (a run `insert_runs` did not create gets none).
INSERT INTO steps AS s (run_id, step_id, item_index, status, priority, available_at, state,
                        created_at)
SELECT v.run_id, v.step_id, v.item_index, v.status, r.priority, to_timestamp(v.available_at),
       v.state, COALESCE(to_timestamp(%(now)s), now())
FROM unnest(%(run_ids)s::uuid[], %(step_ids)s::text[], %(item_indexes)s::int[],
            %(statuses)s::text[], %(available_ats)s::float8[], %(states)s::jsonb[])
     WITH ORDINALITY AS v(run_id, step_id, item_index, status, available_at, state, n)
JOIN runs AS r ON r.id = v.run_id
ORDER BY v.n
RETURNING {step_columns}

-- name: insert_steps
-- All rows in one statement (a 5,000-item for_each is one round trip, not 5,000).
INSERT INTO steps AS s (run_id, step_id, item_index, status, priority, available_at, state,
                        created_at)
SELECT %(run_id)s, v.step_id, v.item_index, v.status,
       (SELECT priority FROM runs WHERE id = %(run_id)s), to_timestamp(v.available_at), v.state,
       COALESCE(to_timestamp(%(now)s), now())
FROM unnest(%(step_ids)s::text[], %(item_indexes)s::int[], %(statuses)s::text[],
            %(available_ats)s::float8[], %(states)s::jsonb[])
     WITH ORDINALITY AS v(step_id, item_index, status, available_at, state, n)
ORDER BY v.n
RETURNING {step_columns}

-- name: keep_item_signals
-- Before delete_items: the signals its items took stay taken (never delivered again),
-- charged to the step's own row.
UPDATE signals SET consumed_by = (SELECT id FROM steps
                                  WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND item_index = -1)
WHERE consumed_by IN (SELECT id FROM steps
                      WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND item_index >= 0)

-- name: delete_items
DELETE FROM steps WHERE run_id = %(run_id)s AND step_id = %(step_id)s AND item_index >= 0

-- name: insert_signal
INSERT INTO signals (run_id, name, payload, created_at, idempotency_key)
VALUES (%(run_id)s, %(name)s, %(payload)s, COALESCE(to_timestamp(%(now)s), now()), %(key)s) RETURNING id

-- name: signal_by_key
SELECT consumed_by IS NOT NULL AS taken FROM signals
WHERE run_id = %(run_id)s AND name = %(name)s AND idempotency_key = %(key)s

-- name: take_signal
UPDATE signals SET consumed_by = %(step)s, consumed_at = COALESCE(to_timestamp(%(now)s), now())
WHERE id = (SELECT id FROM signals
            WHERE run_id = %(run_id)s AND name = ANY(%(names)s) AND consumed_by IS NULL
            ORDER BY id LIMIT 1 FOR UPDATE)
RETURNING name, payload

-- name: claim
-- One statement: lease the due rows, start their pending runs, return the rows with what
-- the runner needs of their runs.
-- clock_timestamp() (and the parameter now) is read when the claim is made, not when its
-- transaction began (as now() would be): a claim at the end of a transaction must see the
-- steps that transaction made ready a moment before (and start them after they became ready).
-- SKIP LOCKED on runs: a run held by another transaction is left pending; the engine marks
-- it running when that step completes. Waiting for the lock could deadlock with a cancel.
WITH due AS (
    -- One arm per partial index (steps_ready, steps_timers), each read in index order and
    -- stopped at the limit; the run's status as a subquery, not a join, for with a join
    -- the planner (misled by statistics a burst of runs made stale) starts from the runs
    -- and reads every step of every unfinished run. An arm may lock rows the final LIMIT
    -- drops; they are free again when this transaction ends, a moment later.
    (SELECT s.id, s.status, s.priority, s.available_at FROM steps s
     WHERE s.status = 'queued' AND s.available_at <= COALESCE(to_timestamp(%(now)s), clock_timestamp())
       AND (SELECT r.status FROM runs r WHERE r.id = s.run_id) IN ('pending', 'running')
     ORDER BY s.priority DESC, s.available_at
     LIMIT %(limit)s
     FOR UPDATE OF s SKIP LOCKED)
), timers AS (
    (SELECT s.id, s.status, s.priority, s.available_at FROM steps s
     WHERE s.status = 'waiting' AND s.available_at <= COALESCE(to_timestamp(%(now)s), clock_timestamp())
       AND (SELECT r.status FROM runs r WHERE r.id = s.run_id) IN ('pending', 'running')
     ORDER BY s.available_at
     LIMIT %(limit)s
     FOR UPDATE OF s SKIP LOCKED)
), picked AS (
    SELECT id, status FROM (SELECT * FROM due UNION ALL SELECT * FROM timers) AS arms
    ORDER BY priority DESC, available_at, id LIMIT %(limit)s
), claimed (id, run_id, step_id, item_index, status, attempt, available_at, lease_owner,
            lease_token, lease_expires_at, state, output, error, created_at, started_at,
            finished_at, history, claimed_from) AS (
    UPDATE steps s SET
        status = 'running',
        attempt = s.attempt + CASE WHEN due.status = 'queued' THEN 1 ELSE 0 END,
        started_at = CASE WHEN due.status = 'queued' THEN COALESCE(to_timestamp(%(now)s), clock_timestamp()) ELSE s.started_at END,
        lease_owner = %(owner)s, lease_token = %(token)s, lease_expires_at = COALESCE(to_timestamp(%(now)s), clock_timestamp()) + make_interval(secs => %(lease)s)
    FROM picked AS due WHERE s.id = due.id
    RETURNING {step_columns}, due.status
), started AS (
    UPDATE runs SET status = 'running', started_at = COALESCE(to_timestamp(%(now)s), clock_timestamp())
    WHERE id IN (SELECT id FROM runs WHERE id IN (SELECT run_id FROM claimed) AND status || '' = 'pending'
                 FOR UPDATE SKIP LOCKED)
)
-- In the order of the pick (as SQLite returns them): a step's priority is its run's.
SELECT c.*, r.workflow_name AS workflow_name, r.workflow_version AS workflow_version,
       r.input AS run_input, r.schedule_id AS schedule_id,
       extract(epoch FROM r.schedule_tick)::float8 AS schedule_tick
FROM claimed c JOIN runs r ON r.id = c.run_id ORDER BY r.priority DESC, c.available_at, c.id

-- name: renew_leases
UPDATE steps SET lease_expires_at = COALESCE(to_timestamp(%(now)s), now()) + make_interval(secs => %(lease)s)
WHERE status = 'running' AND lease_owner = %(owner)s
  AND (id, lease_token) IN (SELECT * FROM unnest(%(ids)s::bigint[], %(tokens)s::uuid[]))
RETURNING id

-- name: hand_back
-- A queued row that started its attempt ends it `lost` (reason `drain`) in its history; one
-- that never started gets its attempt number back; a resumed waiting row goes back to waiting.
UPDATE steps SET
    status = CASE WHEN h.resumed THEN 'waiting' ELSE 'queued' END,
    attempt = attempt - CASE WHEN h.resumed OR h.started THEN 0 ELSE 1 END,
    history = CASE WHEN h.resumed OR NOT h.started THEN history ELSE COALESCE(history, '[]'::jsonb) || jsonb_build_array(
        jsonb_build_object('attempt', attempt, 'outcome', 'lost', 'reason', 'drain', 'instance', lease_owner,
                           'started_at', extract(epoch FROM started_at)::float8,
                           'ended_at', extract(epoch FROM COALESCE(to_timestamp(%(now)s), now()))::float8)
        -- The row's iteration, if it has one (`engine.history`).
        || jsonb_strip_nulls(jsonb_build_object('iteration', state->'loop'->'iteration'))) END,
    started_at = CASE WHEN h.resumed THEN started_at ELSE NULL END,
    available_at = COALESCE(to_timestamp(%(now)s), now()),
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(tokens)s::uuid[], %(resumed)s::bool[], %(started)s::bool[])
    AS h(id, token, resumed, started)
WHERE steps.id = h.id AND steps.lease_token = h.token AND steps.status = 'running'

-- name: expired_leases
SELECT run_id, id, lease_token FROM steps
WHERE status = 'running' AND lease_expires_at < COALESCE(to_timestamp(%(now)s), now())
ORDER BY lease_expires_at LIMIT %(limit)s

-- name: overdue_runs
SELECT id FROM runs
WHERE deadline_at < COALESCE(to_timestamp(%(now)s), now()) AND status IN ('pending', 'running', 'paused')
ORDER BY deadline_at LIMIT %(limit)s

-- name: next_due
-- The claim's condition without the time: paused runs wake nobody.
-- (One arm per partial index, the run's status as a subquery: see claim.)
SELECT extract(epoch FROM min(due))::float8 AS due FROM (
    SELECT min(s.available_at) AS due FROM steps s
    WHERE s.status = 'queued' AND (SELECT r.status FROM runs r WHERE r.id = s.run_id) IN ('pending', 'running')
    UNION ALL
    SELECT min(s.available_at) FROM steps s
    WHERE s.status = 'waiting' AND (SELECT r.status FROM runs r WHERE r.id = s.run_id) IN ('pending', 'running')
) AS arms

-- name: append_log
INSERT INTO step_logs (step, attempt, stream, line, created_at)
VALUES (%(step)s, %(attempt)s, %(stream)s, %(line)s, to_timestamp(%(created_at)s))

-- name: read_logs
SELECT id, attempt, stream, line, extract(epoch FROM created_at)::float8 AS created_at FROM step_logs
WHERE step = %(step)s AND id > %(after)s ORDER BY id LIMIT %(limit)s
