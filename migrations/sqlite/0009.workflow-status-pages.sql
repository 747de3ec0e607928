-- Executor schema 9 (SQLite): a workflow's runs of one status, newest first, from one index
-- range. The PostgreSQL migration of the same name makes the same change; keep the two in
-- step.

-- GET /runs?workflow=&status= (and the dashboard's runs page so filtered) read the runs of
-- one status newest first (runs_by_status) and skipped those of other workflows: the first
-- page of a workflow with 1% of 1,000,000 runs read ~5,000 of them, and that of a workflow
-- with no run of that status read every run of that status. With created_at and id after
-- the two columns, the page is the start of one range whatever the history. The counts per
-- workflow and status (GET /workflows) still read this index alone, only wider.
DROP INDEX runs_by_workflow_status;
CREATE INDEX runs_by_workflow_status ON runs (workflow_name, status, created_at DESC, id DESC);
