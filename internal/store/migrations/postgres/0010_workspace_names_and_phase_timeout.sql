-- Workspace names are unique within an organization ignoring case, as in HCP
-- Terraform: a workspace's name is in its workload-identity subject, and two
-- subjects that differ only by case are one mistake away from a trust
-- policy that matches both. Names hold only ASCII letters, digits, '.', '-'
-- and '_', so lower() folds them the same on SQLite and PostgreSQL. The
-- store refuses this migration, listing the clashing names, when an older
-- runcred let some in (see migrate_checks.go).
CREATE UNIQUE INDEX workspaces_org_name_nocase ON workspaces (org_id, lower(name));

-- A workspace's bound on one phase's wall-clock time, in seconds; 0 leaves
-- the agent's own (2 h by default).
ALTER TABLE workspaces ADD COLUMN phase_timeout BIGINT NOT NULL DEFAULT 0;
