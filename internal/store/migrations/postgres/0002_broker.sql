-- Broker tokens: Vault's token fields beyond the foundation's.
ALTER TABLE tokens ADD COLUMN path             TEXT    NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN ttl              BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN explicit_max_ttl BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN max_expires_at   BIGINT;
ALTER TABLE tokens ADD COLUMN period           BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN num_uses         BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN renewable        BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN bound_cidrs      TEXT    NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN type             TEXT    NOT NULL DEFAULT 'service';
ALTER TABLE tokens ADD COLUMN last_renewal     BIGINT;
CREATE INDEX tokens_parent ON tokens (parent_id);
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- Mounted auth methods ("auth/jwt/") and secrets engines ("aws/").
CREATE TABLE broker_mounts (
	uuid        TEXT    PRIMARY KEY,
	path        TEXT    NOT NULL UNIQUE,
	type        TEXT    NOT NULL,
	accessor    TEXT    NOT NULL UNIQUE,
	description TEXT    NOT NULL,
	config      TEXT    NOT NULL,
	options     TEXT    NOT NULL,
	created_at  BIGINT NOT NULL
);

-- Each mount's key/value storage; every value sealed with AAD naming mount and key.
CREATE TABLE broker_storage (
	mount_uuid TEXT NOT NULL,
	key        TEXT NOT NULL,
	value      BYTEA NOT NULL,
	PRIMARY KEY (mount_uuid, key)
);

-- ACL policies (HCL text as written).
CREATE TABLE broker_policies (
	name       TEXT    PRIMARY KEY,
	policy     TEXT    NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Leases on dynamic secrets. A lease is written before its secret leaves the server.
CREATE TABLE leases (
	id             TEXT    PRIMARY KEY,
	mount_uuid     TEXT    NOT NULL,
	path           TEXT    NOT NULL,
	token_id       TEXT,
	issued_at      BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	max_expires_at BIGINT NOT NULL,
	last_renewal   BIGINT,
	renewable      INTEGER NOT NULL,
	internal       BYTEA    NOT NULL,
	meta           TEXT    NOT NULL,
	state          TEXT    NOT NULL,
	attempts       INTEGER NOT NULL DEFAULT 0,
	next_attempt   BIGINT NOT NULL DEFAULT 0,
	last_error     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX leases_due ON leases (state, expires_at);
CREATE INDEX leases_token ON leases (token_id);

-- File audit devices (the hash-chained log is always on and not listed here).
CREATE TABLE broker_audit_devices (
	path        TEXT    PRIMARY KEY,
	type        TEXT    NOT NULL,
	description TEXT    NOT NULL,
	options     TEXT    NOT NULL,
	created_at  BIGINT NOT NULL
);

-- Mount moves (sys/remount) and their outcome.
CREATE TABLE broker_remounts (
	id         TEXT    PRIMARY KEY,
	source     TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	error      TEXT    NOT NULL,
	created_at BIGINT NOT NULL
);
