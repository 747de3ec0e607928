-- Executor schema 3 (SQLite): what started each run, workflow schedules, and the chores one
-- instance of a fleet does at a time (retention). The PostgreSQL migration of the same name
-- makes the same changes with native types; keep the two in step.

-- api, cli, schedule (a tick, or a manual trigger of a schedule), backfill or parent. No
-- CHECK as on PostgreSQL: adding a column with one makes SQLite verify the existing rows with
-- a query whose (empty) result the migration tool prints.
ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'api';
ALTER TABLE runs ADD COLUMN schedule_id TEXT;
-- The tick's nominal time (what templates see as schedule.tick), not when the run started.
ALTER TABLE runs ADD COLUMN schedule_tick REAL;
-- W3C trace context the run continues (OpenTelemetry), when its starter sent one.
ALTER TABLE runs ADD COLUMN traceparent TEXT;
-- Exactly one run per tick of a schedule, whichever instance fires it and however often.
CREATE UNIQUE INDEX runs_by_tick ON runs (workflow_name, schedule_id, schedule_tick)
    WHERE schedule_tick IS NOT NULL;
-- A schedule's runs still going, for its overlap policy.
CREATE INDEX runs_of_schedule_unfinished ON runs (workflow_name, schedule_id)
    WHERE schedule_id IS NOT NULL AND finished_at IS NULL;
-- Retention: the oldest finished runs first, in pages (after a (finished_at, id) cursor), of
-- every workflow (`executor purge`) or of one (each workflow has a retention of its own).
CREATE INDEX runs_by_finished ON runs (finished_at, id) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_by_workflow_finished ON runs (workflow_name, finished_at, id)
    WHERE finished_at IS NOT NULL;

-- One row per schedule declared by the latest version of a workflow (and kept, inactive,
-- once a version drops it: its counts and pause survive a version that brings it back).
CREATE TABLE schedules (
    workflow_name  TEXT    NOT NULL,
    schedule_id    TEXT    NOT NULL,
    -- the schedule as declared (cron or every, timezone, input, overlap, windows): JSON
    spec           TEXT    NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1,
    paused         INTEGER NOT NULL DEFAULT 0,
    -- nominal time of the next tick; NULL: it never fires again
    next_tick      REAL,
    -- when an instance should look at it next: the next tick plus its jitter, or sooner to
    -- start a buffered tick once the running one ends
    due_at         REAL,
    last_tick      REAL,
    -- ticks waiting for the schedule's running run to end (overlap buffer_one, buffer_all)
    buffered       TEXT    NOT NULL DEFAULT '[]',
    fired          INTEGER NOT NULL DEFAULT 0,
    missed         INTEGER NOT NULL DEFAULT 0,
    skipped        INTEGER NOT NULL DEFAULT 0,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    PRIMARY KEY (workflow_name, schedule_id)
);
CREATE INDEX schedules_due ON schedules (due_at) WHERE active = 1 AND paused = 0;

-- Deleting a run deletes its signals (by run) and its steps, and a deleted step must not be
-- the consumer of a signal: without these, each deleted run and step would scan every signal.
CREATE INDEX signals_by_run ON signals (run_id);
CREATE INDEX signals_by_consumer ON signals (consumed_by) WHERE consumed_by IS NOT NULL;

-- Work that one instance of a fleet does at a time (retention): held by a lease.
CREATE TABLE chores (
    name        TEXT PRIMARY KEY,
    owner       TEXT,
    expires_at  REAL,
    last_done   REAL
);
