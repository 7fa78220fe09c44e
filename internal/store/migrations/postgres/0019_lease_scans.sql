-- Indexes for set-based lease work. A prefix (revoke-prefix, the lease
-- listing, an auth mount's tokens) is scanned as a range on the column's
-- order, which must be code point order for the range to be the prefix's:
-- the columns scanned so take the "C" collation (equality is unchanged), and
-- their indexes with them. The leases of a mount (disable, remount) get an
-- index by mount.
ALTER TABLE leases ALTER COLUMN id TYPE TEXT COLLATE "C";
CREATE INDEX leases_mount ON leases (mount_uuid);
ALTER TABLE tokens ALTER COLUMN path TYPE TEXT COLLATE "C";
CREATE INDEX tokens_path ON tokens (path);
-- The expiry task pages through due leases in (expires_at, id) order, each
-- page starting after the last: the due index carries the id for it.
DROP INDEX leases_due;
CREATE INDEX leases_due ON leases (state, expires_at, id);
