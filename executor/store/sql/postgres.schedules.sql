-- Named queries of the PostgreSQL store for schedules. Times are bound as Unix seconds
-- (%(now)s NULL: the database's clock) and read back as such.

-- name: _schedule_columns
workflow_name, schedule_id, spec, active, paused,
extract(epoch FROM next_tick)::float8 AS next_tick, extract(epoch FROM due_at)::float8 AS due_at,
extract(epoch FROM last_tick)::float8 AS last_tick, buffered, fired, missed, skipped,
extract(epoch FROM created_at)::float8 AS created_at, extract(epoch FROM updated_at)::float8 AS updated_at

-- name: sync_schedule
-- A schedule new to the workflow, changed, or back after a version without it starts
-- afresh from now (next_tick NULL: the scheduler computes it); an unchanged one keeps its
-- place. Its pause and counts survive every version.
INSERT INTO schedules AS s (workflow_name, schedule_id, spec, active, next_tick, due_at, created_at, updated_at)
VALUES (%(workflow_name)s, %(schedule_id)s, %(spec)s, true, NULL,
        COALESCE(to_timestamp(%(now)s), now()), COALESCE(to_timestamp(%(now)s), now()),
        COALESCE(to_timestamp(%(now)s), now()))
ON CONFLICT (workflow_name, schedule_id) DO UPDATE SET
    spec = excluded.spec,
    active = true,
    next_tick = CASE WHEN s.active AND s.spec = excluded.spec THEN s.next_tick END,
    due_at = CASE WHEN s.active AND s.spec = excluded.spec THEN s.due_at ELSE excluded.due_at END,
    buffered = CASE WHEN s.active AND s.spec = excluded.spec THEN s.buffered ELSE '[]'::jsonb END,
    updated_at = CASE WHEN s.active AND s.spec = excluded.spec THEN s.updated_at ELSE excluded.updated_at END

-- name: retire_schedules
UPDATE schedules SET active = false, buffered = '[]', updated_at = COALESCE(to_timestamp(%(now)s), now())
WHERE workflow_name = %(workflow_name)s AND active AND schedule_id <> ALL(%(keep)s::text[])

-- name: list_schedules
SELECT {schedule_columns} FROM schedules
WHERE active AND (%(workflow_name)s::text IS NULL OR workflow_name = %(workflow_name)s)
ORDER BY workflow_name, schedule_id

-- name: get_schedule
SELECT {schedule_columns} FROM schedules
WHERE workflow_name = %(workflow_name)s AND schedule_id = %(schedule_id)s

-- name: due_schedules
SELECT workflow_name, schedule_id FROM schedules
WHERE active AND NOT paused AND due_at <= COALESCE(to_timestamp(%(now)s), clock_timestamp())
ORDER BY due_at LIMIT %(limit)s

-- name: next_schedule_due
SELECT extract(epoch FROM min(due_at))::float8 AS due_at FROM schedules WHERE active AND NOT paused

-- name: lock_schedule
-- SKIP LOCKED: another instance firing this schedule right now will have handled its tick.
SELECT {schedule_columns},
       extract(epoch FROM COALESCE(to_timestamp(%(now)s), clock_timestamp()))::float8 AS now
FROM schedules WHERE workflow_name = %(workflow_name)s AND schedule_id = %(schedule_id)s
FOR UPDATE SKIP LOCKED

-- name: lock_schedule_waiting
-- As lock_schedule, but waits for a transaction holding it (an operator's pause or trigger
-- must not miss the schedule because an instance is firing it right now).
SELECT {schedule_columns},
       extract(epoch FROM COALESCE(to_timestamp(%(now)s), clock_timestamp()))::float8 AS now
FROM schedules WHERE workflow_name = %(workflow_name)s AND schedule_id = %(schedule_id)s
FOR UPDATE

-- name: unfinished_schedule_runs
SELECT {run_columns} FROM runs
WHERE workflow_name = %(workflow_name)s AND schedule_id = %(schedule_id)s AND finished_at IS NULL
ORDER BY created_at, id
