-- Policy checks: OPA policies and policy sets (their scope, parameters and
-- uploaded versions) per organization, and each run's post_plan check with
-- its outcome and override. Times are unix nanoseconds; booleans are 0/1.
CREATE TABLE policies (
	id                TEXT    PRIMARY KEY,
	org_id            TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name              TEXT    NOT NULL,
	description       TEXT    NOT NULL,
	query             TEXT    NOT NULL,
	enforcement_level TEXT    NOT NULL,
	source            TEXT    NOT NULL,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	UNIQUE (org_id, name)
);

-- revision grows on every edit of the set, its policies or parameters, or
-- an upload: it is the version a check names and the engine caches by.
-- files is the newest ready upload's files (JSON, path → text), NULL when
-- the set's policies are individually managed.
CREATE TABLE policy_sets (
	id                 TEXT    PRIMARY KEY,
	org_id             TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	name               TEXT    NOT NULL,
	description        TEXT    NOT NULL,
	overridable        INTEGER NOT NULL,
	global             INTEGER NOT NULL,
	revision           INTEGER NOT NULL,
	files              BLOB,
	current_version_id TEXT    NOT NULL,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	UNIQUE (org_id, name)
);

CREATE TABLE policy_set_policies (
	set_id    TEXT NOT NULL REFERENCES policy_sets (id) ON DELETE CASCADE,
	policy_id TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
	PRIMARY KEY (set_id, policy_id)
);
CREATE INDEX policy_set_policies_policy ON policy_set_policies (policy_id);

-- kind: workspace, workspace-exclusion, project, project-exclusion.
CREATE TABLE policy_set_scopes (
	set_id    TEXT NOT NULL REFERENCES policy_sets (id) ON DELETE CASCADE,
	kind      TEXT NOT NULL,
	target_id TEXT NOT NULL,
	PRIMARY KEY (set_id, kind, target_id)
);

-- value is sealed with AAD naming the parameter id.
CREATE TABLE policy_set_params (
	id        TEXT    PRIMARY KEY,
	set_id    TEXT    NOT NULL REFERENCES policy_sets (id) ON DELETE CASCADE,
	key       TEXT    NOT NULL,
	value     BLOB    NOT NULL,
	sensitive INTEGER NOT NULL,
	UNIQUE (set_id, key)
);

CREATE TABLE policy_set_versions (
	id         TEXT    PRIMARY KEY,
	set_id     TEXT    NOT NULL REFERENCES policy_sets (id) ON DELETE CASCADE,
	status     TEXT    NOT NULL,
	error      TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX policy_set_versions_set ON policy_set_versions (set_id);

-- One post_plan task stage per run. outcome is the evaluation (JSON);
-- plan_hash the SHA-256 of the plan JSON it evaluated; the override columns
-- say who let the run go on, why, and on which plan.
CREATE TABLE run_policy_checks (
	id               TEXT    PRIMARY KEY,
	run_id           TEXT    NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
	status           TEXT    NOT NULL,
	outcome          TEXT    NOT NULL,
	plan_hash        TEXT    NOT NULL,
	overridden_by    TEXT    NOT NULL,
	override_comment TEXT    NOT NULL,
	override_hash    TEXT    NOT NULL,
	timestamps       TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL
);
