-- Run triggers, as HCP Terraform has them: an apply of a run in the source
-- workspace (sourceable_id) queues a run in workspace_id. Both sides go
-- with their workspace.
CREATE TABLE run_triggers (
	id            TEXT    PRIMARY KEY,
	workspace_id  TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	sourceable_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	created_at    BIGINT  NOT NULL,
	UNIQUE (workspace_id, sourceable_id)
);
CREATE INDEX run_triggers_sourceable ON run_triggers (sourceable_id);

-- A triggered run names the run whose apply queued it and that run's
-- workspace ('' for any other run). The unique index makes "one run per
-- workspace per triggering apply" the database's rule, on any number of
-- nodes.
ALTER TABLE runs ADD COLUMN source_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN source_workspace_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX runs_triggered_once ON runs (source_run_id, workspace_id) WHERE source_run_id <> '';
