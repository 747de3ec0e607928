-- Executor schema 4 (PostgreSQL): indexes for the runs page and the workflows page of the
-- dashboard. Same changes as the SQLite migration of the same name.

-- Runs of one trigger, newest first (GET /runs?trigger=): without it, a rare trigger's first
-- page reads every run (11 ms per 100,000 runs kept).
CREATE INDEX runs_by_trigger ON runs (trigger, created_at DESC, id DESC);
-- Runs by status per workflow (GET /workflows): counted from this index (an index-only scan
-- where the table is vacuumed), not from the table.
CREATE INDEX runs_by_workflow_status ON runs (workflow_name, status);
