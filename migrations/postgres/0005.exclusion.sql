-- Executor schema 5 (PostgreSQL): mutual exclusion across runs. Same table as the SQLite
-- migration of the same name, with native types.

-- One row per place under a key (a step's `mutex`/`semaphore`, a workflow's `concurrency`):
-- a run (step NULL) or a step row either holds the key or waits in its line. The line is
-- FIFO by id; a place is given up when its run or step is final (or its attempt lost).
-- Changes to one key's rows are serialised by a transaction-scoped advisory lock on the key.
CREATE TABLE key_holds (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text        NOT NULL,
    run_id      uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        bigint      REFERENCES steps (id) ON DELETE CASCADE,
    -- the limit this place was taken with (a mutex: 1); a waiter is let in while fewer hold
    lim         integer     NOT NULL CHECK (lim >= 1),
    holding     boolean     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    held_at     timestamptz
);
-- At most one place per run (or step) under a key.
CREATE UNIQUE INDEX key_holds_place ON key_holds (key, run_id, COALESCE(step, -1));
-- The holders of a key counted, and its line read head first.
CREATE INDEX key_holds_line ON key_holds (key, holding, id);
-- A run's places (released when it ends, shown with it).
CREATE INDEX key_holds_by_run ON key_holds (run_id);
CREATE INDEX key_holds_by_step ON key_holds (step) WHERE step IS NOT NULL;
