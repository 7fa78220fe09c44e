package broker

import (
	"context"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
)

// Sweep runs one round of the expiry task (tests drive time themselves).
func (b *Broker) Sweep(ctx context.Context) { b.sweep(ctx) }

// MountStorage is the sealed storage of the mount with the given uuid.
func MountStorage(db *store.DB, s *seal.Seal, uuid string) engine.Storage {
	return newMountStorage(db, s, uuid)
}
