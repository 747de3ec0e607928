-- Named queries of the SQLite store. Times are Unix seconds (REAL), bound as :now.

-- name: register_instance
INSERT INTO instances (id, host, pid, version, state, started_at, heartbeat_at, heartbeat_timeout)
VALUES (:id, :host, :pid, :version, :state, :now, :now, :heartbeat_timeout)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, version = excluded.version,
    state = excluded.state, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
    heartbeat_timeout = excluded.heartbeat_timeout

-- name: heartbeat
UPDATE instances SET state = :state, heartbeat_at = :now WHERE id = :id

-- name: list_instances
SELECT id, host, pid, version, state, started_at, heartbeat_at, heartbeat_timeout
FROM instances ORDER BY started_at, id

-- name: steps_in_flight
-- Read from the partial index of running rows (steps_leases).
SELECT lease_owner, count(*) AS steps FROM steps
WHERE status = 'running' AND lease_owner IS NOT NULL
GROUP BY lease_owner

-- name: ping
SELECT 1

-- name: expire_owner_leases
UPDATE steps SET lease_expires_at = :now - 1 WHERE lease_owner = :owner AND status = 'running'

-- name: stop_instance
UPDATE instances SET state = 'stopped' WHERE id = :id

-- name: stop_silent_instances
-- Each judged by its own heartbeat timeout (an older version's by :unknown_timeout).
UPDATE instances SET state = 'stopped'
WHERE state != 'stopped' AND id != :self
  AND heartbeat_at < :now - COALESCE(heartbeat_timeout, :unknown_timeout)
RETURNING id

-- name: dead_local_instances
SELECT id, host, pid, version, state, started_at, heartbeat_at, heartbeat_timeout
FROM instances WHERE host = :host AND state != 'stopped'

-- name: workflow_by_digest
SELECT name, version, digest, source, definition, created_at
FROM workflows WHERE name = :name AND digest = :digest

-- name: insert_workflow
INSERT INTO workflows (name, version, digest, source, definition, created_at)
SELECT :name, coalesce(max(version), 0) + 1, :digest, :source, :definition, :now
FROM workflows WHERE name = :name
RETURNING name, version, digest, source, definition, created_at

-- name: latest_workflow
SELECT name, version, digest, source, definition, created_at
FROM workflows WHERE name = :name ORDER BY version DESC LIMIT 1

-- name: workflow_version
SELECT name, version, digest, source, definition, created_at
FROM workflows WHERE name = :name AND version = :version

-- name: workflow_versions
SELECT name, version, digest, created_at FROM workflows WHERE name = :name ORDER BY version DESC

-- name: list_workflows
SELECT w.name, w.version, w.digest, w.source, w.definition, w.created_at
FROM workflows w
WHERE w.version = (SELECT max(version) FROM workflows WHERE name = w.name)
ORDER BY w.name

-- name: _run_columns
id, workflow_name, workflow_version, status, input, outputs, error, idempotency_key, priority,
parent_run_id, parent_step, deadline_at, created_at, started_at, finished_at,
trigger, schedule_id, schedule_tick, traceparent

-- name: _step_columns
id, run_id, step_id, item_index, status, attempt, available_at, lease_owner, lease_token,
lease_expires_at, state, output, error, created_at, started_at, finished_at, history

-- name: get_run
SELECT {run_columns} FROM runs WHERE id = :id

-- name: list_runs
-- Its WHERE: the runs_if_* conditions the filter sets, joined by AND (`common.run_filter`).
SELECT {run_columns} FROM runs WHERE /* run_filter */
ORDER BY created_at DESC, id DESC
LIMIT :limit

-- name: count_runs
SELECT count(*) AS runs FROM runs WHERE /* run_filter */

-- Conditions of `common.run_filter`: one expression each, without comments. The cursor
-- (runs_if_before) is a row value, read as a range of the (created_at DESC, id DESC) indexes.

-- name: runs_if_workflow
workflow_name = :workflow

-- name: runs_if_status
status = :status

-- name: runs_if_statuses
status IN (SELECT value FROM json_each(:statuses))

-- name: runs_if_trigger
trigger = :trigger

-- name: runs_if_since
created_at >= :since

-- name: runs_if_until
created_at < :until

-- name: runs_if_parent
parent_run_id = :parent

-- name: runs_if_before
(created_at, id) < (:before_at, :before_id)

-- name: run_counts
SELECT workflow_name, status, count(*) AS runs FROM runs GROUP BY workflow_name, status

-- name: run_steps
SELECT {step_columns} FROM steps WHERE run_id = :run_id ORDER BY id

-- name: step_results
SELECT step_id, status, output FROM steps WHERE run_id = :run_id AND item_index = -1

-- name: get_step
SELECT {step_columns} FROM steps WHERE id = :id

-- name: step_rows
SELECT {step_columns} FROM steps
WHERE run_id = :run_id AND item_index = -1 AND step_id IN (SELECT value FROM json_each(:ids))

-- name: items
SELECT {step_columns} FROM steps
WHERE run_id = :run_id AND step_id = :step_id AND item_index >= 0 ORDER BY item_index

-- name: item
SELECT {step_columns} FROM steps
WHERE run_id = :run_id AND step_id = :step_id AND item_index = :index

-- name: items_from
SELECT {step_columns} FROM steps
WHERE run_id = :run_id AND step_id = :step_id AND item_index >= :first AND item_index < :first + :count
ORDER BY item_index

-- name: unfinished_steps
SELECT count(*) AS unfinished FROM steps
WHERE run_id = :run_id AND item_index = -1 AND status IN ('pending', 'queued', 'running', 'waiting')

-- name: insert_run
-- Any conflict (an idempotency key taken, a schedule's tick already run) creates nothing.
INSERT INTO runs (id, workflow_name, workflow_version, status, input, idempotency_key, priority,
                  parent_run_id, parent_step, deadline_at, created_at,
                  trigger, schedule_id, schedule_tick, traceparent)
VALUES (:id, :workflow_name, :workflow_version, 'pending', :input, :idempotency_key, :priority,
        :parent_run_id, :parent_step, :deadline_at, :now,
        :trigger, :schedule_id, :schedule_tick, :traceparent)
ON CONFLICT DO NOTHING
RETURNING {run_columns}

-- name: find_run
SELECT {run_columns} FROM runs WHERE workflow_name = :workflow_name AND idempotency_key = :key

-- name: find_tick_run
SELECT {run_columns} FROM runs
WHERE workflow_name = :workflow_name AND schedule_id = :schedule_id AND schedule_tick = :tick

-- name: child_runs
SELECT {run_columns} FROM runs WHERE parent_run_id = :run_id ORDER BY created_at, id

-- name: insert_runs
-- The runs of a JSON array of objects (`insert_run`'s parameters each), in its order; any
-- conflict (an idempotency key taken, a schedule's tick already run) creates nothing of that
-- run. `WHERE true`: without a WHERE, SQLite would read the upsert's ON as a join's.
INSERT INTO runs (id, workflow_name, workflow_version, status, input, idempotency_key, priority,
                  parent_run_id, parent_step, deadline_at, created_at,
                  trigger, schedule_id, schedule_tick, traceparent)
SELECT r.value ->> 'id', r.value ->> 'workflow_name', r.value ->> 'workflow_version', 'pending',
       r.value ->> 'input', r.value ->> 'idempotency_key', r.value ->> 'priority',
       r.value ->> 'parent_run_id', r.value ->> 'parent_step', r.value ->> 'deadline_at', :now,
       r.value ->> 'trigger', r.value ->> 'schedule_id', r.value ->> 'schedule_tick',
       r.value ->> 'traceparent'
FROM json_each(:runs) AS r
WHERE true
ORDER BY r.key
ON CONFLICT DO NOTHING
RETURNING {run_columns}

-- name: insert_steps_of_runs
-- The step rows of a JSON array of objects (`insert_step`'s parameters each), in its order.
INSERT INTO steps (run_id, step_id, item_index, status, priority, available_at, state, created_at)
SELECT s.value ->> 'run_id', s.value ->> 'step_id', s.value ->> 'item_index', s.value ->> 'status',
       r.priority, s.value ->> 'available_at', s.value ->> 'state', :now
FROM json_each(:steps) AS s
CROSS JOIN runs AS r ON r.id = s.value ->> 'run_id'
ORDER BY s.key
RETURNING {step_columns}

-- name: insert_step
INSERT INTO steps (run_id, step_id, item_index, status, priority, available_at, state, created_at)
VALUES (:run_id, :step_id, :item_index, :status,
        (SELECT priority FROM runs WHERE id = :run_id), :available_at, :state, :now)
RETURNING {step_columns}

-- name: keep_item_signals
-- Before delete_items: the signals its items took stay taken (never delivered again),
-- charged to the step's own row.
UPDATE signals SET consumed_by = (SELECT id FROM steps
                                  WHERE run_id = :run_id AND step_id = :step_id AND item_index = -1)
WHERE consumed_by IN (SELECT id FROM steps WHERE run_id = :run_id AND step_id = :step_id AND item_index >= 0)

-- name: delete_items
DELETE FROM steps WHERE run_id = :run_id AND step_id = :step_id AND item_index >= 0

-- name: insert_signal
INSERT INTO signals (run_id, name, payload, created_at, idempotency_key)
VALUES (:run_id, :name, :payload, :now, :key)

-- name: signal_by_key
SELECT consumed_by IS NOT NULL AS taken FROM signals
WHERE run_id = :run_id AND name = :name AND idempotency_key = :key

-- name: take_signal
-- :names is a JSON array: the oldest signal of any of them is taken.
UPDATE signals SET consumed_by = :step, consumed_at = :now
WHERE id = (SELECT id FROM signals
            WHERE run_id = :run_id AND name IN (SELECT value FROM json_each(:names))
                  AND consumed_by IS NULL
            ORDER BY id LIMIT 1)
RETURNING name, payload

-- name: due_steps
-- One arm per partial index (steps_ready, steps_timers), each read in index order and
-- stopped at the limit. CROSS JOIN makes SQLite start from the steps (its planner would
-- otherwise start from the runs and read every step of every unfinished run).
SELECT id, status FROM (
    SELECT * FROM (
        SELECT s.id, s.status, s.priority, s.available_at FROM steps s CROSS JOIN runs r ON r.id = s.run_id
        WHERE s.status = 'queued' AND s.available_at <= :now AND r.status IN ('pending', 'running')
        ORDER BY s.priority DESC, s.available_at LIMIT :limit)
    UNION ALL
    SELECT * FROM (
        SELECT s.id, s.status, s.priority, s.available_at FROM steps s CROSS JOIN runs r ON r.id = s.run_id
        WHERE s.status = 'waiting' AND s.available_at <= :now AND r.status IN ('pending', 'running')
        ORDER BY s.available_at LIMIT :limit))
ORDER BY priority DESC, available_at, id
LIMIT :limit

-- name: start_runs
-- +status: look the runs up by id, not every pending run up by status.
UPDATE runs SET status = 'running', started_at = :now
WHERE +status = 'pending' AND id IN (SELECT run_id FROM steps WHERE id IN (SELECT value FROM json_each(:ids)))

-- name: claim_rows
UPDATE steps SET
    status = 'running',
    attempt = attempt + (status = 'queued'),
    started_at = CASE WHEN status = 'queued' THEN :now ELSE started_at END,
    lease_owner = :owner, lease_token = :token, lease_expires_at = :expires
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: claimed
-- The columns of PostgreSQL's claim: the step row, what the runner needs of its run, and
-- claimed_from, the status the row left (:waiting lists the rows that were waiting).
-- Explicit aliases: SQLite leaves the name of a column without AS unspecified.
SELECT s.id AS id, s.run_id AS run_id, s.step_id AS step_id, s.item_index AS item_index,
       s.status AS status, s.attempt AS attempt, s.available_at AS available_at,
       s.lease_owner AS lease_owner, s.lease_token AS lease_token,
       s.lease_expires_at AS lease_expires_at, s.state AS state, s.output AS output,
       s.error AS error, s.created_at AS created_at, s.started_at AS started_at,
       s.finished_at AS finished_at, s.history AS history, r.workflow_name AS workflow_name, r.workflow_version AS workflow_version,
       r.input AS run_input, r.schedule_id AS schedule_id, r.schedule_tick AS schedule_tick,
       CASE WHEN s.id IN (SELECT value FROM json_each(:waiting)) THEN 'waiting' ELSE 'queued' END
           AS claimed_from
FROM steps s JOIN runs r ON r.id = s.run_id
WHERE s.id IN (SELECT value FROM json_each(:ids)) ORDER BY s.priority DESC, s.available_at, s.id

-- name: renew_lease
UPDATE steps SET lease_expires_at = :expires
WHERE id = :id AND lease_token = :token AND lease_owner = :owner AND status = 'running'

-- name: hand_back
-- A queued row that started its attempt ends it `lost` (reason `drain`) in its history; one
-- that never started gets its attempt number back; a resumed waiting row goes back to waiting.
UPDATE steps SET
    status = CASE WHEN :resumed THEN 'waiting' ELSE 'queued' END,
    attempt = attempt - CASE WHEN :resumed OR :started THEN 0 ELSE 1 END,
    -- The entry names the row's iteration, if it has one (`engine.history`); json_patch
    -- leaves out a key whose value is null.
    history = CASE WHEN :resumed OR NOT :started THEN history ELSE json_insert(COALESCE(history, '[]'), '$[#]',
        json_patch(json_object('attempt', attempt, 'outcome', 'lost', 'reason', 'drain', 'instance', lease_owner,
                               'started_at', started_at, 'ended_at', :now),
                   json_object('iteration', json_extract(state, '$.loop.iteration')))) END,
    started_at = CASE WHEN :resumed THEN started_at ELSE NULL END,
    available_at = :now,
    lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND status = 'running'

-- name: expired_leases
SELECT run_id, id, lease_token FROM steps
WHERE status = 'running' AND lease_expires_at < :now
ORDER BY lease_expires_at LIMIT :limit

-- name: overdue_runs
SELECT id FROM runs
WHERE deadline_at < :now AND status IN ('pending', 'running', 'paused')
ORDER BY deadline_at LIMIT :limit

-- name: next_due
-- The claim's condition without the time: paused runs wake nobody. (CROSS JOIN: as in
-- due_steps.)
SELECT min(due) AS due FROM (
    SELECT min(s.available_at) AS due FROM steps s CROSS JOIN runs r ON r.id = s.run_id
    WHERE s.status = 'queued' AND r.status IN ('pending', 'running')
    UNION ALL
    SELECT min(s.available_at) FROM steps s CROSS JOIN runs r ON r.id = s.run_id
    WHERE s.status = 'waiting' AND r.status IN ('pending', 'running'))

-- name: append_log
INSERT INTO step_logs (step, attempt, stream, line, created_at)
VALUES (:step, :attempt, :stream, :line, :created_at)

-- name: read_logs
SELECT id, attempt, stream, line, created_at FROM step_logs
WHERE step = :step AND id > :after ORDER BY id LIMIT :limit
