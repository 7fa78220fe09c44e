package runtrigger

import (
	"context"

	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Directory is what the run lifecycle asks when an apply succeeds. It
// does not authorize: triggers were authorized when they were made.
type Directory struct{ db *store.DB }

// NewDirectory returns a Directory.
func NewDirectory(base resource.Deps) Directory { return Directory{db: base.DB} }

// Outbound lists the triggers whose source is workspace wsID.
func (d Directory) Outbound(ctx context.Context, wsID string) ([]Trigger, error) {
	return outbound(ctx, d.db, wsID)
}

// Linked reports, inside tx, whether trigger id still exists: the apply
// that fires it commits in tx, so a trigger deleted before that commit
// does not fire.
func (d Directory) Linked(ctx context.Context, tx *store.Tx, id string) (bool, error) {
	return exists(ctx, tx, id)
}
