-- Seal: data keys, each wrapped by the root key.
CREATE TABLE seal_keys (
	version     INTEGER PRIMARY KEY,
	root_key_id TEXT    NOT NULL,
	wrapped     BLOB    NOT NULL,
	created_at  INTEGER NOT NULL
);

-- Small named secrets owned by one component each (audit HMAC key, ...), sealed.
CREATE TABLE secrets (
	name       TEXT    PRIMARY KEY,
	sealed     BLOB    NOT NULL,
	created_at INTEGER NOT NULL
);

-- The issuer's signing keys: one sealed document, updated by compare-and-swap on version.
CREATE TABLE keyring (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	version    INTEGER NOT NULL,
	sealed     BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
);

-- Append-only, hash-chained audit log.
CREATE TABLE audit_log (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	type      TEXT    NOT NULL,
	body      TEXT    NOT NULL,
	prev_hash TEXT    NOT NULL,
	hash      TEXT    NOT NULL
);

-- API tokens (Vault-style service tokens). Only a SHA-256 of each token is kept.
CREATE TABLE tokens (
	id           TEXT    PRIMARY KEY,
	accessor     TEXT    NOT NULL UNIQUE,
	parent_id    TEXT,
	policies     TEXT    NOT NULL,
	meta         TEXT    NOT NULL,
	display_name TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER
);
