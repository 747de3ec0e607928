-- Executor schema 3 (PostgreSQL): what started each run, workflow schedules, and the chores
-- one instance of a fleet does at a time (retention). Same changes as the SQLite migration of
-- the same name, with native types.

-- api, cli, schedule (a tick, or a manual trigger of a schedule), backfill or parent.
ALTER TABLE runs ADD COLUMN trigger text NOT NULL DEFAULT 'api'
    CHECK (trigger IN ('api', 'cli', 'schedule', 'backfill', 'parent'));
ALTER TABLE runs ADD COLUMN schedule_id text;
-- The tick's nominal time (what templates see as schedule.tick), not when the run started.
ALTER TABLE runs ADD COLUMN schedule_tick timestamptz;
-- W3C trace context the run continues (OpenTelemetry), when its starter sent one.
ALTER TABLE runs ADD COLUMN traceparent text;
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
    workflow_name  text        NOT NULL,
    schedule_id    text        NOT NULL,
    -- the schedule as declared (cron or every, timezone, input, overlap, windows)
    spec           jsonb       NOT NULL,
    active         boolean     NOT NULL DEFAULT true,
    paused         boolean     NOT NULL DEFAULT false,
    -- nominal time of the next tick; NULL: it never fires again
    next_tick      timestamptz,
    -- when an instance should look at it next: the next tick plus its jitter, or sooner to
    -- start a buffered tick once the running one ends
    due_at         timestamptz,
    last_tick      timestamptz,
    -- ticks waiting for the schedule's running run to end (overlap buffer_one, buffer_all)
    buffered       jsonb       NOT NULL DEFAULT '[]',
    fired          bigint      NOT NULL DEFAULT 0,
    missed         bigint      NOT NULL DEFAULT 0,
    skipped        bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_name, schedule_id)
);
CREATE INDEX schedules_due ON schedules (due_at) WHERE active AND NOT paused;

-- Deleting a run deletes its signals (by run) and its steps, and a deleted step must not be
-- the consumer of a signal: without these, each deleted run and step would scan every signal.
CREATE INDEX signals_by_run ON signals (run_id);
CREATE INDEX signals_by_consumer ON signals (consumed_by) WHERE consumed_by IS NOT NULL;

-- Work that one instance of a fleet does at a time (retention): held by a lease.
CREATE TABLE chores (
    name        text PRIMARY KEY,
    owner       text,
    expires_at  timestamptz,
    last_done   timestamptz
);
