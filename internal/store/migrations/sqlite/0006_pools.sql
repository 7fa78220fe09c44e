-- Platform: agent pools, teams, the API tokens issued to them, and variable
-- sets. Times are unix nanoseconds; booleans are 0/1.
CREATE TABLE agent_pools (
	id                  TEXT    PRIMARY KEY,
	org_id              TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name                TEXT    NOT NULL,
	organization_scoped INTEGER NOT NULL,
	created_at          INTEGER NOT NULL,
	UNIQUE (org_id, name)
);

-- The workspaces a pool that is not organization-scoped may serve.
CREATE TABLE agent_pool_workspaces (
	pool_id      TEXT NOT NULL REFERENCES agent_pools (id) ON DELETE CASCADE,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	PRIMARY KEY (pool_id, workspace_id)
);

CREATE TABLE teams (
	id         TEXT    PRIMARY KEY,
	org_id     TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name       TEXT    NOT NULL,
	visibility TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (org_id, name)
);

-- API tokens the platform issued through the broker: kind 'agent' (owner is
-- an agent pool) or 'team' (owner is a team). The token itself is never
-- stored, only the broker accessor that revokes it. owner_id has no foreign
-- key because it names either table; the service deletes a pool's or team's
-- tokens with it, after revoking them. legacy marks a team's single token
-- of POST /teams/:id/authentication-token, which a new one replaces.
CREATE TABLE platform_tokens (
	id              TEXT    PRIMARY KEY,
	kind            TEXT    NOT NULL,
	org_id          TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	owner_id        TEXT    NOT NULL,
	legacy          INTEGER NOT NULL,
	description     TEXT,
	accessor        TEXT    NOT NULL UNIQUE,
	created_by_kind TEXT    NOT NULL,
	created_by_id   TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL
);
CREATE INDEX platform_tokens_owner ON platform_tokens (owner_id, created_at);
CREATE UNIQUE INDEX platform_tokens_one_legacy ON platform_tokens (owner_id) WHERE legacy = 1;

CREATE TABLE varsets (
	id          TEXT    PRIMARY KEY,
	org_id      TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	description TEXT    NOT NULL,
	is_global   INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	UNIQUE (org_id, name)
);

CREATE TABLE varset_workspaces (
	varset_id    TEXT NOT NULL REFERENCES varsets (id) ON DELETE CASCADE,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	PRIMARY KEY (varset_id, workspace_id)
);
CREATE INDEX varset_workspaces_workspace ON varset_workspaces (workspace_id);

CREATE TABLE varset_projects (
	varset_id  TEXT NOT NULL REFERENCES varsets (id) ON DELETE CASCADE,
	project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	PRIMARY KEY (varset_id, project_id)
);
CREATE INDEX varset_projects_project ON varset_projects (project_id);

-- As workspace_variables, with the set in place of the workspace; every
-- value is sealed with AAD naming the variable and its set.
-- managing_workspace_id is always NULL: sets have no managing workspace.
CREATE TABLE varset_variables (
	id                      TEXT    PRIMARY KEY,
	varset_id               TEXT    NOT NULL REFERENCES varsets (id) ON DELETE CASCADE,
	key                     TEXT    NOT NULL,
	category                TEXT    NOT NULL,
	description             TEXT    NOT NULL,
	hcl                     INTEGER NOT NULL,
	sensitive               INTEGER NOT NULL,
	value                   BLOB    NOT NULL,
	version_id              TEXT    NOT NULL,
	written_by_kind         TEXT    NOT NULL,
	written_by_id           TEXT    NOT NULL,
	written_by_name         TEXT    NOT NULL,
	written_by_workspace_id TEXT    NOT NULL,
	written_at              INTEGER NOT NULL,
	managing_workspace_id   TEXT,
	created_at              INTEGER NOT NULL,
	UNIQUE (varset_id, category, key)
);
