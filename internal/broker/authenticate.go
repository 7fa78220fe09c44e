package broker

import (
	"context"
	"net/netip"
	"slices"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/token"
)

// The one token check, for the broker's own pipeline (Handle) and for
// runcred's API (Caller): checkToken says who a token is, spend counts
// one of its uses.

// checkToken authenticates tok presented from remote: the token must be
// live (known, unexpired) and, unless it is a non-expiring root token, used
// from an address it is bound to. Every refusal is fail.Unauthenticated.
func (b *Broker) checkToken(ctx context.Context, tok secret.Value, remote netip.Addr) (token.Entry, error) {
	e, err := b.tokens.Lookup(ctx, tok)
	if err != nil {
		return token.Entry{}, err
	}
	if !(e.ExpiresAt.IsZero() && slices.Contains(e.Policies, "root")) && !e.AllowedFrom(remote) {
		return token.Entry{}, fail.Unauthenticatedf("permission denied")
	}
	return e, nil
}

// spend counts one use of a use-limited token before its request runs, so
// concurrent requests can never use it more often than allowed. done
// revokes the token when this was its last use; call it once the request
// is over.
func (b *Broker) spend(ctx context.Context, e token.Entry) (done func(), err error) {
	left, err := b.tokens.Use(ctx, e) // -1 for a token without a use limit
	if err != nil {
		return nil, err
	}
	if left != 0 {
		return func() {}, nil
	}
	return func() {
		if err := b.revokeToken(context.WithoutCancel(ctx), e.ID(), false, "uses exhausted"); err != nil {
			b.log.Warn("revoke used-up token", "accessor", e.Accessor, "err", err)
		}
	}, nil
}

// Caller authenticates a token presented to runcred's own API with the
// broker's token check, and spends one use of it (the last use revokes it
// before the request runs).
func (b *Broker) Caller(ctx context.Context, tok secret.Value, remote netip.Addr) (access.Caller, error) {
	e, err := b.checkToken(ctx, tok, remote)
	if err != nil {
		return access.Caller{}, err
	}
	done, err := b.spend(ctx, e)
	if err != nil {
		return access.Caller{}, err
	}
	done()
	return e.Caller(), nil
}
