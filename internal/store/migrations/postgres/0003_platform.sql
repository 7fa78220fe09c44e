-- Platform: organizations, projects, workspaces and workspace variables.
-- Times are unix nanoseconds; booleans are 0/1.
CREATE TABLE organizations (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	email      TEXT    NOT NULL,
	created_at BIGINT  NOT NULL
);

CREATE TABLE projects (
	id          TEXT    PRIMARY KEY,
	org_id      TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	description TEXT    NOT NULL,
	is_default  BIGINT  NOT NULL,
	created_at  BIGINT  NOT NULL,
	UNIQUE (org_id, name)
);

CREATE TABLE workspaces (
	id                TEXT    PRIMARY KEY,
	org_id            TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	project_id        TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name              TEXT    NOT NULL,
	description       TEXT    NOT NULL,
	auto_apply        BIGINT  NOT NULL,
	execution_mode    TEXT    NOT NULL,
	working_directory TEXT    NOT NULL,
	terraform_version TEXT    NOT NULL,
	agent_pool_id     TEXT    NOT NULL,
	created_at        BIGINT  NOT NULL,
	updated_at        BIGINT  NOT NULL,
	UNIQUE (org_id, name)
);
CREATE INDEX workspaces_project ON workspaces (project_id);

-- Every value is sealed with AAD naming the variable id. managing_workspace_id
-- has no foreign key on purpose: a variable whose manager was deleted stays
-- protected (no run can satisfy it) rather than silently becoming unmanaged.
CREATE TABLE workspace_variables (
	id                      TEXT    PRIMARY KEY,
	workspace_id            TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	key                     TEXT    NOT NULL,
	category                TEXT    NOT NULL,
	description             TEXT    NOT NULL,
	hcl                     BIGINT  NOT NULL,
	sensitive               BIGINT  NOT NULL,
	value                   BYTEA   NOT NULL,
	version_id              TEXT    NOT NULL,
	written_by_kind         TEXT    NOT NULL,
	written_by_id           TEXT    NOT NULL,
	written_by_name         TEXT    NOT NULL,
	written_by_workspace_id TEXT    NOT NULL,
	written_at              BIGINT  NOT NULL,
	managing_workspace_id   TEXT,
	created_at              BIGINT  NOT NULL,
	UNIQUE (workspace_id, category, key)
);
