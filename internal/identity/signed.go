package identity

import (
	"context"
	"crypto"
)

// SignsWith reports whether iss is this issuer and pub the public half of
// one of the keyring's keys (a retired key counts while it is published, as
// in the JWKS): a token that names iss and whose signature verifies with pub
// is then one this issuer minted. The broker's jwt method asks it, with the
// key its login verified the token with, before it lets a login name a run
// in its token's metadata: a token from another issuer may carry the same
// claims, and a mount may trust that issuer, but only runcred's own run
// tokens attribute a login to a run.
func (i *Issuer) SignsWith(ctx context.Context, pub crypto.PublicKey, iss string) bool {
	if pub == nil || iss != i.cfg.Issuer {
		return false
	}
	if err := i.refreshIfOlder(ctx, i.cfg.RefreshInterval); err != nil {
		return false
	}
	ring := i.snapshot()
	for idx := range ring.Keys {
		if k := &ring.Keys[idx]; k.priv != nil && k.priv.PublicKey.Equal(pub) {
			return true
		}
	}
	return false
}
