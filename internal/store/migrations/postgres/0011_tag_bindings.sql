-- Tag bindings: key/value tags on projects and workspaces. A workspace's
-- effective tags are its project's with its own on top.
CREATE TABLE project_tag_bindings (
	project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	value      TEXT NOT NULL,
	PRIMARY KEY (project_id, key)
);

CREATE TABLE workspace_tag_bindings (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	key          TEXT NOT NULL,
	value        TEXT NOT NULL,
	PRIMARY KEY (workspace_id, key)
);

-- Whether a team's members may manage its tokens, as HCP Terraform keeps it
-- (HCP Terraform's default: they may).
ALTER TABLE teams ADD COLUMN allow_member_token_management INTEGER NOT NULL DEFAULT 1;
