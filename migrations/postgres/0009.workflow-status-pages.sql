-- Executor schema 9 (PostgreSQL): a workflow's runs of one status, newest first, from one
-- index range. Same change as the SQLite migration of the same name.

-- GET /runs?workflow=&status= (and the dashboard's runs page so filtered): the planner
-- chose between the runs of the workflow and the runs of the status, each newest first,
-- and filtered the other condition; a workflow whose recent runs are of other statuses read
-- many. With created_at and id after the two columns, the page is the start of one range.
-- The counts per workflow and status (GET /workflows) still read this index alone.
DROP INDEX runs_by_workflow_status;
CREATE INDEX runs_by_workflow_status ON runs (workflow_name, status, created_at DESC, id DESC);
