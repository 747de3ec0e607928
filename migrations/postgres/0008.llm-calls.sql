-- Executor schema 8 (PostgreSQL): every call an `llm` step made to a model, with its
-- tokens, cost and latency, succeeded or failed: a run's totals (API, dashboard, budgets)
-- add them up. A call is charged to its run, step, item and attempt by name, not to a step
-- row: a retried run that fans out anew keeps what its earlier items spent. The calls go
-- with their run (retention). The SQLite migration of the same name makes the same
-- changes; keep the two in step.
CREATE TABLE llm_calls (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id          text        NOT NULL,
    item_index       integer     NOT NULL,
    attempt          integer     NOT NULL,
    model            text        NOT NULL,
    input_tokens     bigint      NOT NULL,
    output_tokens    bigint      NOT NULL,
    cached_tokens    bigint      NOT NULL,
    reasoning_tokens bigint      NOT NULL,
    cost_usd         float8,
    seconds          float8      NOT NULL,
    outcome          text        NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_by_run ON llm_calls (run_id, id);
