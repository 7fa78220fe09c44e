package identity_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestSignsWith: the issuer owns its own tokens' keys, also a retired key
// while it is published, under its own iss only; not another key, not its
// key under another iss.
func TestSignsWith(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, newClock())
		pub, iss := signerOf(t, e, e.mint(t, req("apply")).Token.RevealString())
		if iss != e.iss.Discovery().Issuer {
			t.Fatalf("its token names iss %q, want %q", iss, e.iss.Discovery().Issuer)
		}
		if !e.iss.SignsWith(ctx, pub, iss) {
			t.Fatal("the key of its own token is not recognized")
		}
		e.clock.Add(testPolicy().PublishLead)
		if _, err := e.iss.Rotate(rootCtx, false); err != nil {
			t.Fatal(err)
		}
		if !e.iss.SignsWith(ctx, pub, iss) {
			t.Fatal("the retired key is not recognized while it is published")
		}
		if newPub, _ := signerOf(t, e, e.mint(t, req("plan")).Token.RevealString()); newPub.(*rsa.PublicKey).Equal(pub) {
			t.Fatal("the rotation did not change the signing key")
		}

		stranger, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if e.iss.SignsWith(ctx, &stranger.PublicKey, iss) {
			t.Fatal("another key is recognized")
		}
		other := newEnvAt(t, db, e.clock, "https://other.example")
		otherPub, otherIss := signerOf(t, other, other.mint(t, req("plan")).Token.RevealString())
		if e.iss.SignsWith(ctx, otherPub, otherIss) {
			t.Fatal("a token naming another iss, signed by the shared keyring, is recognized")
		}
		if e.iss.SignsWith(ctx, pub, "") || e.iss.SignsWith(ctx, nil, iss) {
			t.Fatal("an empty iss or a missing key is recognized")
		}
	})
}

// signerOf returns the published key tok verifies with, and its iss.
func signerOf(t *testing.T, e *env, tok string) (crypto.PublicKey, string) {
	t.Helper()
	set, err := e.iss.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	for i := range set.Keys {
		if payload, err := jws.Verify(&set.Keys[i]); err == nil {
			var c struct{ Iss string }
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			return set.Keys[i].Key, c.Iss
		}
	}
	t.Fatal("no published key verifies the token")
	return nil, ""
}
