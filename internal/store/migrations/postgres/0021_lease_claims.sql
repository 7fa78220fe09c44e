-- A claim on a lease (PostgreSQL: which drain revokes it, until when) gets a
-- column of its own. next_attempt is left to a failed revocation's backoff, so
-- making a lease's next attempt due (a revocation asked again, a token
-- revoked) never takes it from a drain that holds it.
ALTER TABLE leases ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
