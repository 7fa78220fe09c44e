package broker

import (
	"context"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// leaseArg is the lease id of a sys/leases/<op>[/<id>] request: the body's
// lease_id wins over the path form.
func leaseArg(c *call, prefix string) string {
	id, _, _ := engine.Fields(c.req.Data).String("lease_id")
	if id == "" {
		id = strings.TrimPrefix(c.rest, prefix)
	}
	return strings.TrimPrefix(id, "/")
}

func (b *Broker) sysLeaseLookup(ctx context.Context, c *call) (*Response, error) {
	return b.leaseLookup(ctx, leaseArg(c, "leases/lookup"))
}

// listLeases answers LIST sys/leases/lookup/<prefix>: folders end in "/".
func (b *Broker) listLeases(ctx context.Context, c *call) (*Response, error) {
	keys, err := b.leases.list(ctx, strings.TrimPrefix(c.rest, "leases/lookup/"))
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return &Response{Data: map[string]any{"keys": keys}}, nil
}

func (b *Broker) sysLeaseRenew(ctx context.Context, c *call) (*Response, error) {
	return b.leaseRenew(ctx, c, leaseArg(c, "leases/renew"), engine.Fields(c.req.Data))
}

func (b *Broker) leaseRevoke(ctx context.Context, c *call) (*Response, error) {
	f := engine.Fields(c.req.Data)
	id := leaseArg(c, "leases/revoke")
	l, err := b.leases.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fail.Invalidf("invalid lease")
	}
	sync, _, err := f.Bool("sync")
	if err != nil {
		return nil, err
	}
	if !f.Has("sync") || sync { // Vault's API revokes synchronously unless sync=false
		if err := b.revokeLease(ctx, id, false, "revoke"); err != nil {
			return nil, fail.Wrap(fail.Invalid, err, "failed to revoke lease")
		}
		return nil, nil
	}
	if _, err := b.leases.markDue(ctx, b.db, false, `id = ?`, id); err != nil {
		return nil, err
	}
	b.nudge()
	return nil, nil
}

// revokePrefixOp serves sys/leases/revoke-prefix/* and, with force,
// sys/leases/revoke-force/*.
func (b *Broker) revokePrefixOp(force bool) coreHandler {
	return func(ctx context.Context, c *call) (*Response, error) {
		_, prefix, _ := strings.Cut(strings.TrimPrefix(c.rest, "leases/"), "/")
		return nil, b.revokePrefix(ctx, prefix, force)
	}
}

func (b *Broker) countLeases(ctx context.Context, c *call) (*Response, error) {
	typ, _, _ := engine.Fields(c.req.Data).String("type")
	if typ != "irrevocable" {
		return nil, fail.Invalidf("only type=irrevocable is supported")
	}
	n, err := b.leases.countIrrevocable(ctx)
	if err != nil {
		return nil, err
	}
	return &Response{Data: map[string]any{"lease_count": n, "counts": map[string]int64{"irrevocable": n}}}, nil
}

// irrevocableLeases answers sys/leases?type=irrevocable.
func (b *Broker) irrevocableLeases(ctx context.Context, c *call) (*Response, error) {
	f := engine.Fields(c.req.Data)
	typ, _, _ := f.String("type")
	if typ != "irrevocable" {
		return nil, fail.Invalidf("only type=irrevocable is supported")
	}
	limit, ok, err := f.Int("limit")
	if err != nil {
		return nil, err
	}
	if !ok || limit <= 0 || limit > 10000 {
		limit = 10000
	}
	ls, err := b.leases.irrevocable(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ls))
	for _, l := range ls {
		out = append(out, map[string]any{"lease_id": l.ID, "mount_id": l.MountUUID, "error": l.LastError,
			"expire_time": l.ExpiresAt.Format(time.RFC3339)})
	}
	return &Response{Data: map[string]any{"leases": out, "lease_count": len(out)}}, nil
}

func (b *Broker) leaseLookup(ctx context.Context, id string) (*Response, error) {
	l, err := b.leases.get(ctx, strings.TrimPrefix(id, "/"))
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fail.Invalidf("invalid lease")
	}
	var renewed any
	if !l.LastRenewal.IsZero() {
		renewed = l.LastRenewal.Format(time.RFC3339Nano)
	}
	return &Response{Data: map[string]any{
		"id": l.ID, "issue_time": l.IssuedAt.Format(time.RFC3339Nano), "expire_time": l.ExpiresAt.Format(time.RFC3339Nano),
		"last_renewal_time": renewed, "renewable": l.Renewable && l.State == leaseActive,
		"ttl": ttlSeconds(b.now(), l.ExpiresAt),
	}}, nil
}

// leaseRenew extends a lease through its engine, never past its maximum.
func (b *Broker) leaseRenew(ctx context.Context, c *call, id string, f engine.Fields) (*Response, error) {
	if id == "" {
		return nil, fail.Invalidf("lease_id must be specified")
	}
	if strings.HasPrefix(id, "auth/") {
		return nil, fail.Invalidf("tokens cannot be renewed through sys/leases/renew; use auth/token/renew")
	}
	l, err := b.leases.get(ctx, id)
	if err != nil {
		return nil, err
	}
	now := b.now().UTC().Truncate(time.Second)
	switch {
	case l == nil:
		return nil, errLeaseNotFound
	case l.State != leaseActive || !l.ExpiresAt.After(now):
		return nil, fail.Invalidf("lease expired")
	case !l.Renewable:
		return nil, fail.Invalidf("lease is not renewable")
	}
	inc, _, err := f.Duration("increment")
	if err != nil {
		return nil, err
	}
	m, err := b.mountByUUID(ctx, l.MountUUID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errLeaseNotFound
	}
	be, err := b.backend(ctx, m)
	if err != nil {
		return nil, err
	}
	r, ok := be.(engine.Renewer)
	if !ok {
		return nil, fail.Invalidf("lease is not renewable")
	}
	ttl, err := r.Renew(ctx, b.engineLease(m, l), inc)
	if err != nil {
		return nil, err
	}
	exp := now.Add(ttl)
	if exp.After(l.MaxExpiresAt) {
		exp = l.MaxExpiresAt
	}
	if err := b.leases.renewed(ctx, id, exp); err != nil {
		return nil, err
	}
	return &Response{LeaseID: id, Renewable: true, LeaseDuration: ttlSeconds(now, exp)}, nil
}

// revokePrefix revokes every lease under prefix, a page at a time; force
// ignores engine errors. The prefix is a range of the id index.
func (b *Broker) revokePrefix(ctx context.Context, prefix string, force bool) error {
	if prefix == "" {
		return fail.Invalidf("prefix is required")
	}
	// As in Vault, the prefix is a path: without a trailing slash it names
	// one lease, or else the folder ("aws/creds/dev" is not "aws/creds/dev-admin").
	cond, args := `id = ?`, []any{prefix}
	if !strings.HasSuffix(prefix, "/") {
		l, err := b.leases.get(ctx, prefix)
		if err != nil {
			return err
		}
		if l == nil {
			prefix += "/"
		}
	}
	if strings.HasSuffix(prefix, "/") {
		cond, args = store.Prefix("id", prefix)
	}
	t, err := b.revokeWhere(ctx, force, "revoke-prefix", cond, args...)
	if err != nil {
		return err
	}
	// Tokens issued under an auth prefix go too, as in Vault.
	if strings.HasPrefix(prefix, "auth/") {
		tids, err := b.tokens.IDsByPath(ctx, prefix)
		if err != nil {
			return err
		}
		for _, id := range tids {
			if err := b.revokeToken(ctx, id, false, "revoke-prefix"); err != nil {
				return err
			}
		}
	}
	if t.failed > 0 {
		return fail.Invalidf("failed to revoke %d of %d leases; they will be retried", t.failed, t.failed+t.revoked)
	}
	return nil
}
