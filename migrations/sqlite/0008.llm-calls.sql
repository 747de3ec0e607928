-- Executor schema 8 (SQLite): every call an `llm` step made to a model, with its tokens,
-- cost and latency, succeeded or failed: a run's totals (API, dashboard, budgets) add them
-- up. A call is charged to its run, step, item and attempt by name, not to a step row: a
-- retried run that fans out anew keeps what its earlier items spent. The calls go with
-- their run (retention). The PostgreSQL migration of the same name makes the same
-- changes; keep the two in step.
CREATE TABLE llm_calls (
    id               INTEGER PRIMARY KEY,
    run_id           TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id          TEXT    NOT NULL,
    item_index       INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    model            TEXT    NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    cached_tokens    INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_usd         REAL,
    seconds          REAL    NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    error            TEXT,
    created_at       REAL    NOT NULL
);
CREATE INDEX llm_calls_by_run ON llm_calls (run_id, id);
