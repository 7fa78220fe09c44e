package broker

import (
	"context"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
)

// Sweep runs one round of the expiry task (tests drive time themselves).
func (b *Broker) Sweep(ctx context.Context) { b.sweep(ctx) }

// Special reports what the pipeline asks of an op on path before it runs:
// no token (unauth), or sudo on top of the ACL capability.
func (b *Broker) Special(ctx context.Context, path string, op engine.Operation) (unauth, sudo bool, err error) {
	m, rest, err := b.mounts.route(ctx, path)
	if err != nil || m == nil {
		return false, false, err
	}
	r, err := b.router(ctx, m)
	if err != nil {
		return false, false, err
	}
	p := r.path(rest, op)
	return p.Unauthenticated, p.Sudo, nil
}

// MountStorage is the sealed storage of the mount with the given uuid.
func MountStorage(db *store.DB, s *seal.Seal, uuid string) engine.Storage {
	return newMountStorage(db, s, uuid)
}
