-- A run's plan options, as HCP Terraform's run API takes them: refresh
-- (default on), refresh-only mode, target and replace addresses (JSON
-- arrays of strings), and run variables. The variables' values are sealed
-- (JSON of [{key, value}], AAD naming the run); their keys alone are kept
-- in the clear, for the run document.
ALTER TABLE runs ADD COLUMN refresh BIGINT NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN refresh_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN target_addrs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN replace_addrs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN variable_keys TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN variables BYTEA;
