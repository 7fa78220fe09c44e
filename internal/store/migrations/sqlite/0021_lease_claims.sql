-- As PostgreSQL's 0021. SQLite serves one node, which keeps its claims in
-- memory: the column stays 0 here.
ALTER TABLE leases ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;
