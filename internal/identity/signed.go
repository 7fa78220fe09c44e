package identity

import (
	"context"
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"
)

// Signed reports whether token is one this issuer minted: it names this
// issuer in iss and verifies with one of the keyring's published keys (a
// retired key's tokens stay good until they expire, as in the JWKS). The
// broker's jwt method asks it before it lets a login name a run in its
// token's metadata: a token from another issuer may carry the same claims,
// and a mount may trust that issuer, but only runcred's own run tokens
// attribute a login to a run. It checks no times and no audience (the
// login has), and refuses any "crit" header (it understands none).
func (i *Issuer) Signed(ctx context.Context, token string) bool {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return false
	}
	if _, crit := jws.Signatures[0].Protected.ExtraHeaders["crit"]; crit {
		return false
	}
	// The kid a token names is the signer's claim: every key is tried, so
	// a token naming no kid or another one is judged by its signature.
	if err := i.refreshIfOlder(ctx, i.cfg.RefreshInterval); err != nil {
		return false
	}
	// The key it names is tried first, so a token signed by it costs one
	// signature check, not one per key in the ring.
	ring := i.snapshot()
	kid := jws.Signatures[0].Header.KeyID
	order := make([]int, 0, len(ring.Keys))
	for idx := range ring.Keys {
		if ring.Keys[idx].ID == kid {
			order = append([]int{idx}, order...)
		} else {
			order = append(order, idx)
		}
	}
	for _, idx := range order {
		k := &ring.Keys[idx]
		if k.priv == nil {
			continue
		}
		payload, err := jws.Verify(&k.priv.PublicKey)
		if err != nil {
			continue
		}
		var c struct {
			Issuer string `json:"iss"`
		}
		return json.Unmarshal(payload, &c) == nil && c.Issuer == i.cfg.Issuer
	}
	return false
}
