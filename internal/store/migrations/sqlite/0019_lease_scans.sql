-- Indexes for set-based lease work. A prefix (revoke-prefix, the lease
-- listing, an auth mount's tokens) is scanned as a range on the column's
-- order, which SQLite's default BINARY collation gives the primary key's
-- index already; the paths of tokens get an index of their own, and the
-- leases of a mount (disable, remount) one by mount.
CREATE INDEX leases_mount ON leases (mount_uuid);
CREATE INDEX tokens_path ON tokens (path);
-- The expiry task pages through due leases in (expires_at, id) order, each
-- page starting after the last: the due index carries the id for it.
DROP INDEX leases_due;
CREATE INDEX leases_due ON leases (state, expires_at, id);
