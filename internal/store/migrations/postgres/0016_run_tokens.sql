-- Run-scoped API tokens. A claimed phase gets, besides its job token, a
-- run token whose ACL policy (run_token_policy) is compiled from what its
-- workspace was granted; both are revoked when the phase ends.
ALTER TABLE runs ADD COLUMN run_token_accessor TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN run_token_policy TEXT NOT NULL DEFAULT '';

-- What a workspace's run tokens may do beyond their own workspace: manage
-- the workspaces and variables of one project or of one workspace. Exactly
-- one target is set; a grant goes with its workspace or its target.
CREATE TABLE workspace_run_token_grants (
	workspace_id        TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	target_project_id   TEXT    REFERENCES projects (id) ON DELETE CASCADE,
	target_workspace_id TEXT    REFERENCES workspaces (id) ON DELETE CASCADE,
	permission          TEXT    NOT NULL,
	created_at          BIGINT  NOT NULL
);
CREATE INDEX workspace_run_token_grants_ws ON workspace_run_token_grants (workspace_id);

-- Remote state sharing, as HCP Terraform's: a workspace shares its
-- outputs with every workspace of its organization (global_remote_state)
-- or with the consumers it lists.
ALTER TABLE workspaces ADD COLUMN global_remote_state BIGINT NOT NULL DEFAULT 0;
CREATE TABLE workspace_remote_state_consumers (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	consumer_id  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	PRIMARY KEY (workspace_id, consumer_id)
);
CREATE INDEX workspace_remote_state_consumers_consumer ON workspace_remote_state_consumers (consumer_id);

-- Managed variables: whether others may overwrite a variable another
-- workspace manages ('locked': no; 'policy': yes, and the
-- protected-variables policy stops the run).
ALTER TABLE organizations ADD COLUMN managed_variables TEXT NOT NULL DEFAULT 'policy';
