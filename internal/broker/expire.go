package broker

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
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

// sweep does one round of expiry work; errors are logged and retried next
// round. It revokes every lease that is due, a page at a time.
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
	if _, err := b.drain(ctx, false, "expired", "1 = 1", "expires_at, id", nil); err != nil && ctx.Err() == nil {
		b.log.Warn("expiry: revoke leases", "err", err)
	}
}

// nudge wakes the expiry task (after a revocation queued leases).
func (b *Broker) nudge() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// tally counts what a revocation did.
type tally struct {
	revoked, failed int
	errs            []error // the failures' causes (a single lease's is its answer)
}

// maxErrs bounds the causes a tally keeps (the answer names a few).
const maxErrs = 5

func (t *tally) add(o tally) {
	t.revoked += o.revoked
	t.failed += o.failed
	t.errs = append(t.errs, o.errs[:min(len(o.errs), maxErrs-min(len(t.errs), maxErrs))]...)
}

// revokeWhere revokes the leases matching where (an indexed condition)
// page by page, those waiting for a retry included; force takes
// irrevocable ones too and removes each whatever its engine says
// (sys/leases/revoke-force). A lease whose revocation fails expires now,
// for the expiry task to retry.
func (b *Broker) revokeWhere(ctx context.Context, force bool, reason, where string, args ...any) (tally, error) {
	if err := b.leases.retryNow(ctx, force, where, args...); err != nil {
		return tally{}, err
	}
	t, err := b.drain(ctx, force, reason, where, "id", args)
	b.nudge() // what this node could not claim or revoke is the expiry task's
	return t, err
}

// revokeLease revokes one lease now. Its error is the engine's when the
// revocation failed (the lease is then retried with backoff), nil when it
// is gone or another node has it in hand.
func (b *Broker) revokeLease(ctx context.Context, id string, force bool, reason string) error {
	t, err := b.revokeWhere(ctx, force, reason, `id = ?`, id)
	if err != nil {
		return err
	}
	return errors.Join(t.errs...)
}

// drain claims pages of due leases matching where, in order ("id", or
// "expires_at, id" for the expiry task), and settles each, until none is
// left that this node can claim. Each page starts after the last one's
// last candidate (keyset paging), so no page reads again what earlier
// pages claimed, deleted (PostgreSQL keeps dead rows in its indexes until
// vacuum), passed over (claimed by another drain) or left failed for a
// later attempt. The next page is claimed while the last one is settled,
// so the database's work on one overlaps the revocations, unsealing and
// records of the other. If a page's settling fails, the drain stops and
// gives up its claim on that page and on the one claimed meanwhile.
func (b *Broker) drain(ctx context.Context, force bool, reason, where, order string, args []any) (tally, error) {
	type settled struct {
		t   tally
		err error
	}
	var (
		t         tally
		last      *lease
		w, a      = where, args
		settling  chan settled // the page being settled, if any
		unsettled []*lease     // its leases
	)
	wait := func() error {
		if settling == nil {
			return nil
		}
		r := <-settling
		settling = nil
		t.add(r.t)
		if r.err != nil {
			b.leases.giveUp(ctx, unsettled)
		}
		return r.err
	}
	for ctx.Err() == nil {
		if last != nil {
			if order == "id" {
				w, a = where+` AND id > ?`, append(slices.Clip(args), last.ID)
			} else {
				w, a = where+` AND (expires_at, id) > (?, ?)`, append(slices.Clip(args), store.Nanos(last.ExpiresAt), last.ID)
			}
		}
		page, end, more, err := b.leases.claim(ctx, force, w, order, a, leasePage, b.claimHold)
		if werr := wait(); err != nil || werr != nil {
			b.leases.giveUp(ctx, page)
			return t, errors.Join(werr, err)
		}
		if end == nil {
			return t, nil
		}
		last = end
		if len(page) > 0 {
			settling, unsettled = make(chan settled, 1), page
			go func(done chan<- settled) {
				pt, err := b.settle(ctx, page, force, reason)
				done <- settled{pt, err}
			}(settling)
		}
		if !more {
			return t, wait()
		}
	}
	return t, errors.Join(wait(), ctx.Err())
}

// sortsAfter reports whether l comes after m in a drain's order.
func sortsAfter(l, m *lease, byID bool) bool {
	if !byID && !l.ExpiresAt.Equal(m.ExpiresAt) {
		return l.ExpiresAt.After(m.ExpiresAt)
	}
	return l.ID > m.ID
}

// settle revokes a page of claimed leases through their engines (at the
// node's upstream rate, several at once), then, for the page as a whole,
// records and audits the failures (retried with Vault's backoff, and marked
// irrevocable after MaxRevokeAttempts) and audits and deletes the rest.
// Revocations are audited before the leases go: if the record cannot be
// written, the leases stay claimed and are retried once the claim lapses,
// so no revocation goes unrecorded.
func (b *Broker) settle(ctx context.Context, page []*lease, force bool, reason string) (tally, error) {
	errs := b.revokeUpstream(ctx, page)
	if err := ctx.Err(); err != nil {
		return tally{}, err // stopping: the claim lapses and the page is tried again
	}
	var (
		t                  tally
		done, retry, given []leaseRecord
		fails              []failure
		failedLeases       []*lease
		gone               []string
		goneLeases         []*lease
	)
	now := b.now()
	var untried bool
	for i, l := range page {
		revErr := errs[i]
		if revErr == errNotAttempted {
			untried = true
			continue
		}
		if revErr != nil && !force {
			attempts := l.Attempts + 1
			f := failure{id: l.ID, attempts: attempts, next: now.Add(time.Duration(1<<min(attempts, 20)) * b.cfg.RevokeBackoff),
				msg: revErr.Error(), irrevocable: attempts >= b.cfg.MaxRevokeAttempts}
			fails, failedLeases = append(fails, f), append(failedLeases, l)
			rec := leaseRecord{LeaseID: l.ID, Attempts: attempts, Error: revErr.Error(), Meta: l.Meta}
			if f.irrevocable {
				given = append(given, rec)
			} else {
				retry = append(retry, rec)
			}
			if len(t.errs) < maxErrs {
				t.errs = append(t.errs, revErr)
			}
			continue
		}
		rec := leaseRecord{LeaseID: l.ID, Meta: l.Meta}
		if revErr != nil {
			rec.ForcedPastError = revErr.Error()
		}
		done = append(done, rec)
		gone, goneLeases = append(gone, l.ID), append(goneLeases, l)
	}
	if len(fails) > 0 {
		if err := b.leases.failed(ctx, fails); err != nil {
			return t, err
		}
		b.leases.release(failedLeases) // their next attempt is recorded
		t.failed = len(fails)
		b.metrics.LeaseRevocations("failed", len(retry))
		b.metrics.LeaseRevocations("irrevocable", len(given))
		for typ, recs := range map[string][]leaseRecord{"broker.lease.revoke-failed": retry, "broker.lease.irrevocable": given} {
			if len(recs) > 0 {
				if _, err := b.audit.Append(ctx, typ, map[string]any{"reason": reason, "leases": recs}); err != nil {
					return t, err
				}
			}
		}
	}
	if len(done) > 0 {
		if _, err := b.audit.Append(ctx, "broker.lease.revoke", map[string]any{"reason": reason, "leases": done}); err != nil {
			return t, err
		}
		if err := b.leases.remove(ctx, gone); err != nil {
			return t, err
		}
		b.leases.release(goneLeases)
		t.revoked = len(gone)
		b.metrics.LeaseRevocations("revoked", len(gone))
	}
	if untried {
		return t, errNotAttempted // the rate limit allows no more in time: stop this drain
	}
	return t, nil
}

// leaseRecord is one lease in a revocation's audit record. Its fields are
// in the order of their JSON names, as a map's would be.
type leaseRecord struct {
	Attempts        int             `json:"attempts,omitempty"` // a failure's: from 1
	Error           string          `json:"error,omitempty"`
	ForcedPastError string          `json:"forced_past_error,omitempty"`
	LeaseID         string          `json:"lease_id"`
	Meta            json.RawMessage `json:"meta"`
}

// errNotAttempted marks a lease whose upstream revocation the rate limit
// did not let start (its wait would pass the context's deadline).
var errNotAttempted = errors.New("broker: upstream revocation not attempted")

// revokeUpstream calls each lease's engine to revoke it, with at most
// RevokeWorkers calls at once and no more than RevokeRate a second on this
// node (engines without upstream revocation, and leases whose mount is
// gone, are not counted against the rate). It returns each lease's error.
func (b *Broker) revokeUpstream(ctx context.Context, page []*lease) []error {
	errs := make([]error, len(page))
	sem := make(chan struct{}, b.cfg.RevokeWorkers)
	var wg sync.WaitGroup
	for i, l := range page {
		if l.undecryptable != nil {
			errs[i] = l.undecryptable
			continue
		}
		r, el, err := b.revoker(ctx, l)
		if err != nil || r == nil {
			errs[i] = err
			continue
		}
		if err := b.revokeRate.Wait(ctx); err != nil {
			// No call in time: the rest of the page is left as it is,
			// to be claimed again once the claim lapses.
			for j := i; j < len(errs); j++ {
				errs[j] = errNotAttempted
			}
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			b.metrics.UpstreamRevoke()
			errs[i] = r.Revoke(ctx, el)
		}()
	}
	wg.Wait()
	return errs
}

// revoker is the engine that revokes l upstream, or nil when there is none
// (an engine without revocation, or the mount is gone and its secrets with it).
func (b *Broker) revoker(ctx context.Context, l *lease) (engine.Revoker, engine.Lease, error) {
	m, err := b.mountByUUID(ctx, l.MountUUID)
	if err != nil || m == nil {
		return nil, engine.Lease{}, err
	}
	be, err := b.backend(ctx, m)
	if err != nil {
		return nil, engine.Lease{}, err
	}
	r, ok := be.(engine.Revoker)
	if !ok {
		return nil, engine.Lease{}, nil
	}
	return r, b.engineLease(m, l), nil
}

func (b *Broker) engineLease(m *mount, l *lease) engine.Lease {
	return engine.Lease{ID: l.ID, Path: l.Path, Internal: l.Internal, IssueTime: l.IssuedAt,
		TTL: l.ExpiresAt.Sub(b.now()), Storage: b.storage(m.UUID, nil)}
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
// orphan), making their leases due in the same transaction, then revokes
// those leases at once, leaving any that fail to the expiry task's retries.
func (b *Broker) revokeToken(ctx context.Context, id string, orphan bool, reason string) error {
	var leases int64
	gone, err := b.tokens.Revoke(ctx, id, orphan, func(tx *store.Tx, tid string) error {
		n, err := b.leases.markDue(ctx, tx, false, `token_id = ?`, tid)
		leases += n
		return err
	})
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		if _, err := b.audit.Append(ctx, "broker.token.revoke", map[string]any{"tokens": len(gone), "leases": leases, "reason": reason}); err != nil {
			return err
		}
	}
	if leases > 0 {
		for chunk := range slices.Chunk(gone, leasePage) {
			in, args := store.In("token_id", chunk)
			if _, err := b.drain(ctx, false, reason, in, "id", args); err != nil {
				b.log.Warn("revoke a revoked token's leases", "err", err)
			}
		}
	}
	b.nudge()
	return nil
}
