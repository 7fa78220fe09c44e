-- A cancel asked of a phase in progress: the agent interrupts OpenTofu,
-- stores what state it has, and ends the phase canceled.
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
