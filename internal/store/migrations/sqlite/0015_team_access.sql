-- Team permissions, as HCP Terraform's: a team reaches a workspace only
-- through a grant on it (team_workspace_access) or on its project
-- (team_project_access), or through the organization-wide access named in
-- teams.organization_access (a comma-separated list of HCP's attribute
-- names, such as "read-workspaces,manage-policies"). An organization's
-- owners team (teams.is_owners) has every power in it. A team's broker
-- policy is compiled from all of these; policy_hash is the SHA-256 of the
-- body last written, so the policy is rewritten only when it changes (and
-- on start when it was never compiled, as for the teams below).
ALTER TABLE teams ADD COLUMN is_owners INTEGER NOT NULL DEFAULT 0;
ALTER TABLE teams ADD COLUMN organization_access TEXT NOT NULL DEFAULT '';
ALTER TABLE teams ADD COLUMN policy_hash TEXT NOT NULL DEFAULT '';

-- access is read, plan, write, admin or custom; the other columns are the
-- permissions it stands for (for custom, as given).
CREATE TABLE team_workspace_access (
	id                TEXT    PRIMARY KEY,
	team_id           TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	workspace_id      TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	access            TEXT    NOT NULL,
	runs              TEXT    NOT NULL,
	variables         TEXT    NOT NULL,
	state_versions    TEXT    NOT NULL,
	sentinel_mocks    TEXT    NOT NULL,
	workspace_locking INTEGER NOT NULL,
	run_tasks         INTEGER NOT NULL,
	policy_overrides  INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	UNIQUE (team_id, workspace_id)
);
CREATE INDEX team_workspace_access_workspace ON team_workspace_access (workspace_id);

-- access is read, write, maintain, admin or custom; settings, teams and
-- variable_sets are the project's own permissions, ws_* those on every
-- workspace in the project, now and later.
CREATE TABLE team_project_access (
	id                  TEXT    PRIMARY KEY,
	team_id             TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	project_id          TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	access              TEXT    NOT NULL,
	settings            TEXT    NOT NULL,
	teams               TEXT    NOT NULL,
	variable_sets       TEXT    NOT NULL,
	ws_runs             TEXT    NOT NULL,
	ws_variables        TEXT    NOT NULL,
	ws_state_versions   TEXT    NOT NULL,
	ws_sentinel_mocks   TEXT    NOT NULL,
	ws_create           INTEGER NOT NULL,
	ws_locking          INTEGER NOT NULL,
	ws_move             INTEGER NOT NULL,
	ws_delete           INTEGER NOT NULL,
	ws_run_tasks        INTEGER NOT NULL,
	ws_policy_overrides INTEGER NOT NULL,
	created_at          INTEGER NOT NULL,
	UNIQUE (team_id, project_id)
);
CREATE INDEX team_project_access_project ON team_project_access (project_id);

-- Before this migration every team had "write" on every workspace of its
-- organization and read on everything in it: that access is made explicit
-- (a write grant per existing workspace, and organization-wide read of
-- workspaces and projects), so upgrading changes nobody's access to what
-- exists. Teams created from now on have none until it is granted.
INSERT INTO team_workspace_access (id, team_id, workspace_id, access, runs, variables, state_versions, sentinel_mocks,
	workspace_locking, run_tasks, policy_overrides, created_at)
SELECT 'tws-' || replace(t.id, 'team-', '') || replace(w.id, 'ws-', ''), t.id, w.id, 'write', 'apply', 'write', 'write', 'read',
	1, 0, 0, t.created_at
FROM teams t JOIN workspaces w ON w.org_id = t.org_id;
UPDATE teams SET organization_access = 'read-projects,read-workspaces';

-- Every organization has an owners team, as in HCP Terraform; one that
-- already has a team of that name keeps it as it is, with no owners team.
INSERT INTO teams (id, org_id, name, visibility, allow_member_token_management, created_at, is_owners)
SELECT 'team-' || replace(o.id, 'org-', '') || 'owners', o.id, 'owners', 'organization', 1, o.created_at, 1
FROM organizations o
WHERE NOT EXISTS (SELECT 1 FROM teams t WHERE t.org_id = o.id AND t.name = 'owners');
