-- Executor schema 6 (PostgreSQL): a signal may carry its sender's idempotency key, so that a
-- request sent again (a client retrying after a timeout, say) is one signal, not two: one
-- decision of a `wait`, one item of a for_each fed by signals. The SQLite migration of the
-- same name makes the same changes; keep the two in step.
ALTER TABLE signals ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX signals_by_key ON signals (run_id, name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
