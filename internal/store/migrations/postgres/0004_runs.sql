-- Platform: configuration versions, runs with their plans and applies, run
-- logs and state versions. Times are unix nanoseconds; booleans are 0/1.
-- Every blob (archive, plan JSON, log chunk, state) is sealed with AAD naming
-- its row.
CREATE TABLE configuration_versions (
	id              TEXT    PRIMARY KEY,
	workspace_id    TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	status          TEXT    NOT NULL,
	speculative     BIGINT  NOT NULL,
	auto_queue_runs BIGINT  NOT NULL,
	created_by_kind TEXT    NOT NULL,
	created_by_id   TEXT    NOT NULL,
	archive         BYTEA,
	archive_size    BIGINT  NOT NULL,
	created_at      BIGINT  NOT NULL,
	uploaded_at     BIGINT  NOT NULL
);
CREATE INDEX configuration_versions_workspace ON configuration_versions (workspace_id, uploaded_at);

-- number orders a workspace's runs (FIFO queue). active marks the one run
-- that holds the workspace; the partial unique index makes "one active run
-- per workspace" the database's rule, not only the code's.
CREATE TABLE runs (
	id                       TEXT    PRIMARY KEY,
	workspace_id             TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	number                   BIGINT  NOT NULL,
	configuration_version_id TEXT    NOT NULL REFERENCES configuration_versions (id) ON DELETE CASCADE,
	plan_id                  TEXT    NOT NULL UNIQUE,
	apply_id                 TEXT    NOT NULL UNIQUE,
	status                   TEXT    NOT NULL,
	active                   BIGINT  NOT NULL,
	message                  TEXT    NOT NULL,
	is_destroy               BIGINT  NOT NULL,
	plan_only                BIGINT  NOT NULL,
	auto_apply               BIGINT  NOT NULL,
	has_changes              BIGINT  NOT NULL,
	plan_additions           BIGINT  NOT NULL,
	plan_changes             BIGINT  NOT NULL,
	plan_destructions        BIGINT  NOT NULL,
	apply_additions          BIGINT  NOT NULL,
	apply_changes            BIGINT  NOT NULL,
	apply_destructions       BIGINT  NOT NULL,
	plan_json                BYTEA,
	created_by_kind          TEXT    NOT NULL,
	created_by_id            TEXT    NOT NULL,
	timestamps               TEXT    NOT NULL,
	error_message            TEXT    NOT NULL,
	created_at               BIGINT  NOT NULL,
	UNIQUE (workspace_id, number)
);
CREATE UNIQUE INDEX runs_one_active ON runs (workspace_id) WHERE active = 1;
CREATE INDEX runs_status ON runs (status, created_at);

CREATE TABLE run_log_chunks (
	phase_id TEXT    NOT NULL,
	run_id   TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq      BIGINT  NOT NULL,
	chunk    BYTEA   NOT NULL,
	PRIMARY KEY (phase_id, seq)
);

-- run_id has no foreign key: state outlives the run that wrote it.
CREATE TABLE state_versions (
	id           TEXT    PRIMARY KEY,
	workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
	run_id       TEXT    NOT NULL,
	number       BIGINT  NOT NULL,
	serial       BIGINT  NOT NULL,
	lineage      TEXT    NOT NULL,
	md5          TEXT    NOT NULL,
	size         BIGINT  NOT NULL,
	state        BYTEA   NOT NULL,
	created_at   BIGINT  NOT NULL,
	UNIQUE (workspace_id, number)
);
