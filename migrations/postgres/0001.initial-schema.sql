-- Executor schema 1 (PostgreSQL): workflow definitions, runs, steps, step logs, signals,
-- instances. Same tables as the SQLite migration of the same name, with native types.

CREATE TABLE workflows (
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    -- sha256 of the normalised definition: sending the same definition again finds its version
    digest      text        NOT NULL,
    source      text        NOT NULL,
    definition  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version),
    UNIQUE (name, digest)
);

CREATE TABLE runs (
    id               uuid        PRIMARY KEY,
    workflow_name    text        NOT NULL,
    workflow_version integer     NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
    input            jsonb       NOT NULL,
    outputs          jsonb,
    error            text,
    idempotency_key  text,
    priority         integer     NOT NULL DEFAULT 0,
    parent_run_id    uuid        REFERENCES runs (id),
    parent_step      bigint,
    deadline_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    FOREIGN KEY (workflow_name, workflow_version) REFERENCES workflows (name, version),
    UNIQUE (workflow_name, idempotency_key)
);
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_workflow ON runs (workflow_name, created_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

-- One row per step of a run, and one more per item of a for_each step (item_index >= 0;
-- the step's own row has item_index -1).
CREATE TABLE steps (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id          text        NOT NULL,
    item_index       integer     NOT NULL DEFAULT -1,
    status           text        NOT NULL CHECK (status IN
                         ('pending', 'queued', 'running', 'waiting',
                          'succeeded', 'failed', 'skipped', 'cancelled')),
    -- copied from the run so that one index serves the claim's order
    priority         integer     NOT NULL DEFAULT 0,
    attempt          integer     NOT NULL DEFAULT 0,
    -- queued: when the step may be claimed (retry backoff); waiting: when its timer fires
    available_at     timestamptz,
    lease_owner      text,
    -- a new token per claim; a completion carrying an older token is rejected
    lease_token      uuid,
    lease_expires_at timestamptz,
    -- what an action keeps across restarts (a sleep's wake time, a child run's id, ...)
    state            jsonb,
    output           jsonb,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (run_id, step_id, item_index)
);
CREATE INDEX steps_ready ON steps (priority DESC, available_at) WHERE status = 'queued';
CREATE INDEX steps_timers ON steps (available_at) WHERE status = 'waiting';
CREATE INDEX steps_leases ON steps (lease_expires_at) WHERE status = 'running';

CREATE TABLE step_logs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step        bigint      NOT NULL REFERENCES steps (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    stream      text        NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    line        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_logs_by_step ON step_logs (step, id);

-- Signals are kept until a wait step takes them, so a signal sent early is not lost.
CREATE TABLE signals (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    payload      jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    consumed_by  bigint      REFERENCES steps (id),
    consumed_at  timestamptz
);
CREATE INDEX signals_unconsumed ON signals (run_id, name, id) WHERE consumed_by IS NULL;

CREATE TABLE instances (
    id            text        PRIMARY KEY,
    host          text        NOT NULL,
    pid           integer     NOT NULL,
    version       text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('idle', 'running', 'draining', 'stopped')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
