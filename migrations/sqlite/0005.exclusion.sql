-- Executor schema 5 (SQLite): mutual exclusion across runs. The PostgreSQL migration of the
-- same name makes the same changes with native types; keep the two in step.

-- One row per place under a key (a step's `mutex`/`semaphore`, a workflow's `concurrency`):
-- a run (step NULL) or a step row either holds the key or waits in its line. The line is
-- FIFO by id; a place is given up when its run or step is final (or its attempt lost).
CREATE TABLE key_holds (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL,
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        INTEGER REFERENCES steps (id) ON DELETE CASCADE,
    -- the limit this place was taken with (a mutex: 1); a waiter is let in while fewer hold
    lim         INTEGER NOT NULL CHECK (lim >= 1),
    holding     INTEGER NOT NULL CHECK (holding IN (0, 1)),
    created_at  REAL    NOT NULL,
    held_at     REAL
);
-- At most one place per run (or step) under a key.
CREATE UNIQUE INDEX key_holds_place ON key_holds (key, run_id, COALESCE(step, -1));
-- The holders of a key counted, and its line read head first.
CREATE INDEX key_holds_line ON key_holds (key, holding, id);
-- A run's places (released when it ends, shown with it).
CREATE INDEX key_holds_by_run ON key_holds (run_id);
CREATE INDEX key_holds_by_step ON key_holds (step) WHERE step IS NOT NULL;
