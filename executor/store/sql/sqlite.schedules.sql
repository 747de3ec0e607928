-- Named queries of the SQLite store for schedules. Times are Unix seconds (REAL), bound as :now.

-- name: _schedule_columns
workflow_name, schedule_id, spec, active, paused, next_tick, due_at, last_tick, buffered,
fired, missed, skipped, created_at, updated_at

-- name: sync_schedule
-- A schedule new to the workflow, changed, or back after a version without it starts
-- afresh from now (next_tick NULL: the scheduler computes it); an unchanged one keeps its
-- place. Its pause and counts survive every version.
INSERT INTO schedules (workflow_name, schedule_id, spec, active, next_tick, due_at, created_at, updated_at)
VALUES (:workflow_name, :schedule_id, :spec, 1, NULL, :now, :now, :now)
ON CONFLICT (workflow_name, schedule_id) DO UPDATE SET
    spec = excluded.spec,
    active = 1,
    next_tick = CASE WHEN schedules.active = 1 AND schedules.spec = excluded.spec
                     THEN schedules.next_tick END,
    due_at = CASE WHEN schedules.active = 1 AND schedules.spec = excluded.spec
                  THEN schedules.due_at ELSE excluded.due_at END,
    buffered = CASE WHEN schedules.active = 1 AND schedules.spec = excluded.spec
                    THEN schedules.buffered ELSE '[]' END,
    updated_at = CASE WHEN schedules.active = 1 AND schedules.spec = excluded.spec
                      THEN schedules.updated_at ELSE excluded.updated_at END

-- name: retire_schedules
UPDATE schedules SET active = 0, buffered = '[]', updated_at = :now
WHERE workflow_name = :workflow_name AND active = 1
  AND schedule_id NOT IN (SELECT value FROM json_each(:keep))

-- name: list_schedules
SELECT {schedule_columns} FROM schedules
WHERE active = 1 AND (:workflow_name IS NULL OR workflow_name = :workflow_name)
ORDER BY workflow_name, schedule_id

-- name: get_schedule
SELECT {schedule_columns} FROM schedules WHERE workflow_name = :workflow_name AND schedule_id = :schedule_id

-- name: due_schedules
SELECT workflow_name, schedule_id FROM schedules
WHERE active = 1 AND paused = 0 AND due_at <= :now
ORDER BY due_at LIMIT :limit

-- name: next_schedule_due
SELECT min(due_at) AS due_at FROM schedules WHERE active = 1 AND paused = 0

-- name: unfinished_schedule_runs
SELECT {run_columns} FROM runs
WHERE workflow_name = :workflow_name AND schedule_id = :schedule_id AND finished_at IS NULL
ORDER BY created_at, id
