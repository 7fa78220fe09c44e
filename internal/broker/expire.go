package broker

import (
	"context"
	"errors"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/store"
)

// expire is the expiration task: it revokes expired tokens (and with them
// their children and leases) and revokes every lease whose time is up,
// retrying failures with Vault's backoff and marking a lease irrevocable
// after MaxRevokeAttempts. All its state is in the database, so it resumes
// after a restart and several nodes can run it at once.
func (b *Broker) expire(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		b.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-b.wake:
		}
	}
}

// sweep does one round of expiry work; errors are logged and retried next round.
func (b *Broker) sweep(ctx context.Context) {
	ids, err := b.tokens.Expired(ctx, 100)
	if err != nil {
		b.log.Warn("expiry: list expired tokens", "err", err)
	}
	for _, id := range ids {
		if err := b.revokeToken(ctx, id, false, "expired"); err != nil {
			b.log.Warn("expiry: revoke expired token", "err", err)
		}
	}
	due, err := b.leases.due(ctx, 100)
	if err != nil {
		b.log.Warn("expiry: list due leases", "err", err)
		return
	}
	for _, id := range due {
		if ctx.Err() != nil {
			return
		}
		won, err := b.leases.claim(ctx, id, b.cfg.RevokeBackoff)
		if err != nil || !won {
			continue
		}
		if err := b.revokeLease(ctx, id, false, "expired"); err != nil {
			b.log.Warn("expiry: revoke lease", "lease_id", id, "err", err)
		}
	}
}

// nudge wakes the expiry task (after a revocation queued leases).
func (b *Broker) nudge() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// revokeLease revokes one lease through its engine. On success the lease is
// removed and audited; on failure it is retried with backoff, and marked
// irrevocable (and audited) after too many attempts. force removes the lease
// whatever the engine says (sys/leases/revoke-force).
func (b *Broker) revokeLease(ctx context.Context, id string, force bool, reason string) error {
	l, err := b.leases.get(ctx, id)
	if err != nil || l == nil {
		return err
	}
	revErr := b.callRevoke(ctx, l)
	if revErr != nil && !force {
		attempts := l.Attempts + 1
		give := attempts >= b.cfg.MaxRevokeAttempts
		next := b.now().Add(time.Duration(1<<min(attempts, 20)) * b.cfg.RevokeBackoff)
		if err := b.leases.failed(ctx, id, attempts, next, revErr.Error(), give); err != nil {
			return err
		}
		typ := "broker.lease.revoke-failed"
		if give {
			typ = "broker.lease.irrevocable"
		}
		_, aerr := b.audit.Append(ctx, typ, map[string]any{"lease_id": id, "attempts": attempts, "error": revErr.Error(), "meta": l.Meta})
		return errors.Join(revErr, aerr)
	}
	// Audit first: if the record cannot be written the lease stays and is
	// retried, so no revocation goes unrecorded.
	body := map[string]any{"lease_id": id, "reason": reason, "meta": l.Meta}
	if revErr != nil {
		body["forced_past_error"] = revErr.Error()
	}
	if _, err := b.audit.Append(ctx, "broker.lease.revoke", body); err != nil {
		return err
	}
	return b.leases.remove(ctx, id)
}

func (b *Broker) callRevoke(ctx context.Context, l *lease) error {
	m, err := b.mountByUUID(ctx, l.MountUUID)
	if err != nil {
		return err
	}
	if m == nil {
		return nil // the mount was disabled, and its secrets with it
	}
	be, err := b.backend(ctx, m)
	if err != nil {
		return err
	}
	r, ok := be.(engine.Revoker)
	if !ok {
		return nil
	}
	return r.Revoke(ctx, b.engineLease(m, l))
}

func (b *Broker) engineLease(m *mount, l *lease) engine.Lease {
	return engine.Lease{ID: l.ID, Path: l.Path, Internal: l.Internal, IssueTime: l.IssuedAt,
		TTL: l.ExpiresAt.Sub(b.now()), Storage: newMountStorage(b.db, b.seal, m.UUID)}
}

// mountByUUID finds a mount by uuid. A miss is checked against the database
// before it is believed, so a stale cache never makes a live mount look gone.
func (b *Broker) mountByUUID(ctx context.Context, uuid string) (*mount, error) {
	for attempt := 0; attempt < 2; attempt++ {
		all, err := b.mounts.list(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range all {
			if m.UUID == uuid {
				return m, nil
			}
		}
		b.mounts.invalidate()
	}
	return nil, nil
}

// revokeToken revokes a token (by stored id) and its descendants (unless
// orphan), then revokes their leases at once, leaving any that fail to the
// expiry task's retries.
func (b *Broker) revokeToken(ctx context.Context, id string, orphan bool, reason string) error {
	var leaseIDs []string
	gone, err := b.tokens.Revoke(ctx, id, orphan, func(tx *store.Tx, tid string) error {
		ids, err := b.leases.byTokenIn(ctx, tx, tid)
		leaseIDs = append(leaseIDs, ids...)
		return err
	})
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		if _, err := b.audit.Append(ctx, "broker.token.revoke", map[string]any{"tokens": len(gone), "leases": len(leaseIDs), "reason": reason}); err != nil {
			return err
		}
	}
	b.revokeNow(ctx, leaseIDs, reason)
	return nil
}

// revokeNow tries to revoke queued leases immediately; failures stay queued.
func (b *Broker) revokeNow(ctx context.Context, ids []string, reason string) {
	for _, id := range ids {
		if won, err := b.leases.claim(ctx, id, b.cfg.RevokeBackoff); err != nil || !won {
			continue
		}
		if err := b.revokeLease(ctx, id, false, reason); err != nil {
			b.log.Warn("revoke lease", "lease_id", id, "err", err)
		}
	}
	b.nudge()
}
