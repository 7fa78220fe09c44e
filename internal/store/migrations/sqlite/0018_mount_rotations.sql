-- Rotating a secrets mount's path: the journal of each rotation, one row,
-- its state moved on after every step so a restarted server resumes it.
-- state: planned, created, copied, policies, variables, runs, leases,
-- removed, done (finished) or rolled_back (failed before the policies were
-- rewritten; the old path works as before). report is what each step did,
-- as JSON; requested_by names who asked (or the schedule). A node works on
-- a rotation while claimed_until is in the future.
CREATE TABLE mount_rotations (
	id            TEXT    PRIMARY KEY,
	mount_path    TEXT    NOT NULL,
	new_path      TEXT    NOT NULL,
	state         TEXT    NOT NULL,
	error         TEXT    NOT NULL,
	report        TEXT    NOT NULL,
	requested_by  TEXT    NOT NULL,
	claimed_until INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
-- One unfinished rotation per mount.
CREATE UNIQUE INDEX mount_rotations_one_open ON mount_rotations (mount_path) WHERE state NOT IN ('done', 'rolled_back');

-- A mount's rotation period: the server rotates it when next_at comes.
-- The row follows the mount to its new path.
CREATE TABLE mount_rotation_schedules (
	mount_path     TEXT    PRIMARY KEY,
	period_seconds INTEGER NOT NULL,
	next_at        INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
);

-- While a mount is being rotated, writes to it are refused (they would not
-- reach the copy); rotating_to names the new path for the error.
ALTER TABLE broker_mounts ADD COLUMN rotating_to TEXT NOT NULL DEFAULT '';
