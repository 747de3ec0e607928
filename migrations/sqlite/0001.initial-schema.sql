-- Executor schema 1 (SQLite): workflow definitions, runs, steps, step logs, signals, instances.
-- Times are Unix seconds as REAL; JSON documents are TEXT. The PostgreSQL migration of the
-- same name creates the same tables with native types; keep the two in step.

CREATE TABLE workflows (
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    -- sha256 of the normalised definition: sending the same definition again finds its version
    digest      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, digest)
);

CREATE TABLE runs (
    id               TEXT    PRIMARY KEY,
    workflow_name    TEXT    NOT NULL,
    workflow_version INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN
                         ('pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
    input            TEXT    NOT NULL,
    outputs          TEXT,
    error            TEXT,
    idempotency_key  TEXT,
    priority         INTEGER NOT NULL DEFAULT 0,
    parent_run_id    TEXT    REFERENCES runs (id),
    parent_step      INTEGER,
    deadline_at      REAL,
    created_at       REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
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
    id               INTEGER PRIMARY KEY,
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id          TEXT    NOT NULL,
    item_index       INTEGER NOT NULL DEFAULT -1,
    status           TEXT    NOT NULL CHECK (status IN
                         ('pending', 'queued', 'running', 'waiting',
                          'succeeded', 'failed', 'skipped', 'cancelled')),
    -- copied from the run so that one index serves the claim's order
    priority         INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    -- queued: when the step may be claimed (retry backoff); waiting: when its timer fires
    available_at     REAL,
    lease_owner      TEXT,
    -- a new token per claim; a completion carrying an older token is rejected
    lease_token      TEXT,
    lease_expires_at REAL,
    -- what an action keeps across restarts (a sleep's wake time, a child run's id, ...)
    state            TEXT,
    output           TEXT,
    error            TEXT,
    created_at       REAL    NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    UNIQUE (run_id, step_id, item_index)
);
CREATE INDEX steps_ready ON steps (priority DESC, available_at) WHERE status = 'queued';
CREATE INDEX steps_timers ON steps (available_at) WHERE status = 'waiting';
CREATE INDEX steps_leases ON steps (lease_expires_at) WHERE status = 'running';

CREATE TABLE step_logs (
    id          INTEGER PRIMARY KEY,
    step        INTEGER NOT NULL REFERENCES steps (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    stream      TEXT    NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    line        TEXT    NOT NULL,
    created_at  REAL    NOT NULL
);
CREATE INDEX step_logs_by_step ON step_logs (step, id);

-- Signals are kept until a wait step takes them, so a signal sent early is not lost.
CREATE TABLE signals (
    id           INTEGER PRIMARY KEY,
    run_id       TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    payload      TEXT,
    created_at   REAL    NOT NULL,
    consumed_by  INTEGER REFERENCES steps (id),
    consumed_at  REAL
);
CREATE INDEX signals_unconsumed ON signals (run_id, name, id) WHERE consumed_by IS NULL;

CREATE TABLE instances (
    id            TEXT    PRIMARY KEY,
    host          TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('idle', 'running', 'draining', 'stopped')),
    started_at    REAL    NOT NULL,
    heartbeat_at  REAL    NOT NULL
);
