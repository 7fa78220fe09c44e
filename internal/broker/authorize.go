package broker

import (
	"context"
	"net/netip"
	"slices"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// Authorize lets broker ACL policies govern runcred's own API: the caller's
// policies are checked on path (e.g. "runcred/identity/mint") as if it were a
// broker path. It implements access.Authorizer.
func (b *Broker) Authorize(ctx context.Context, path, capability string) error {
	c, ok := access.CallerFrom(ctx)
	if !ok {
		return fail.Unauthenticatedf("missing client token")
	}
	if slices.Contains(c.Policies, "root") {
		return nil
	}
	a, err := b.policies.acl(ctx, c.Policies)
	if err != nil {
		return err
	}
	if capability == access.Sudo {
		if slices.Contains(a.Capabilities(path), access.Sudo) {
			return nil
		}
		return fail.Deniedf("permission denied")
	}
	if !a.Allowed(engine.Operation(capability), path, nil).Allowed {
		return fail.Deniedf("permission denied")
	}
	return nil
}

// Caller authenticates a token presented to runcred's own API with the same
// restrictions the broker applies: its CIDR binding, and its use limit (the
// last use revokes it).
func (b *Broker) Caller(ctx context.Context, tok secret.Value, remote netip.Addr) (access.Caller, error) {
	e, err := b.tokens.Lookup(ctx, tok)
	if err != nil {
		return access.Caller{}, err
	}
	if !(e.ExpiresAt.IsZero() && slices.Contains(e.Policies, "root")) && !e.AllowedFrom(remote) {
		return access.Caller{}, fail.Unauthenticatedf("permission denied")
	}
	left, err := b.tokens.Use(ctx, e)
	if err != nil {
		return access.Caller{}, err
	}
	if left == 0 {
		if err := b.revokeToken(context.WithoutCancel(ctx), e.ID(), false, "uses exhausted"); err != nil {
			b.log.Warn("revoke used-up token", "accessor", e.Accessor, "err", err)
		}
	}
	return e.Caller(), nil
}
