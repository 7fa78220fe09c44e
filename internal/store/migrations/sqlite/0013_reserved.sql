-- Reserved: this number belongs to a migration developed alongside this
-- one. Delete this file when that migration lands (two migrations with one
-- number stop runcred at start-up).
SELECT 1;
