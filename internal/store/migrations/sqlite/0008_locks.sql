-- A workspace locked by a user or team token: runs queue behind the lock
-- and none starts until it is lifted. locked_by is the locker's writer
-- kind and id ("user:<accessor>", "team:<id>").
ALTER TABLE workspaces ADD COLUMN locked_by TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN lock_reason TEXT NOT NULL DEFAULT '';
