-- One time representation: every time column holds unix nanoseconds, as the
-- platform's tables always have. These columns held unix seconds. (Durations
-- such as tokens.ttl and period stay whole seconds, as Vault counts them.)
UPDATE seal_keys SET created_at = created_at * 1000000000;
UPDATE secrets SET created_at = created_at * 1000000000;
UPDATE keyring SET updated_at = updated_at * 1000000000;
UPDATE tokens SET
	created_at     = created_at * 1000000000,
	expires_at     = expires_at * 1000000000,
	max_expires_at = max_expires_at * 1000000000,
	last_renewal   = last_renewal * 1000000000;
UPDATE broker_mounts SET created_at = created_at * 1000000000;
UPDATE broker_policies SET updated_at = updated_at * 1000000000;
UPDATE leases SET
	issued_at      = issued_at * 1000000000,
	expires_at     = expires_at * 1000000000,
	max_expires_at = max_expires_at * 1000000000,
	last_renewal   = last_renewal * 1000000000,
	next_attempt   = next_attempt * 1000000000;
UPDATE broker_audit_devices SET created_at = created_at * 1000000000;
UPDATE broker_remounts SET created_at = created_at * 1000000000;
