-- The pre-plan credential guard: an organization's allowlists (project_id
-- NULL) and a project's (scope_id is the organization's or the project's
-- id). body is the lists as JSON; updated_by the writer's JSON. A project's
-- row goes with the project, an organization's rows with it.
CREATE TABLE credential_guards (
	scope_id   TEXT    PRIMARY KEY,
	org_id     TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	project_id TEXT    REFERENCES projects (id) ON DELETE CASCADE,
	body       TEXT    NOT NULL,
	updated_at INTEGER NOT NULL,
	updated_by TEXT    NOT NULL
);
