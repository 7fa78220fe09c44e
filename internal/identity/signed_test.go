package identity_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestSigned: the issuer recognizes its own tokens, from any key it still
// publishes, and nothing else: not another key's token with its iss, not
// its own key's token with another iss, not garbage.
func TestSigned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, newClock())
		tok := e.mint(t, req("apply")).Token.RevealString()
		if !e.iss.Signed(ctx, tok) {
			t.Fatal("its own token is not recognized")
		}
		e.clock.Add(testPolicy().PublishLead)
		if _, err := e.iss.Rotate(rootCtx, false); err != nil {
			t.Fatal(err)
		}
		if !e.iss.Signed(ctx, tok) {
			t.Fatal("a token of the retired key is not recognized while the key is published")
		}

		claims := payload(t, e.mint(t, req("plan")))
		stranger, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if e.iss.Signed(ctx, signRS256(t, stranger, nil, claims)) {
			t.Fatal("another key's token with this iss is recognized")
		}
		other := newEnvAt(t, db, e.clock, "https://other.example")
		if e.iss.Signed(ctx, other.mint(t, req("plan")).Token.RevealString()) {
			t.Fatal("a token naming another iss, signed by the shared keyring, is recognized")
		}
		for _, s := range []string{"", "a.b.c", tok + "x"} {
			if e.iss.Signed(ctx, s) {
				t.Fatalf("%q is recognized", s)
			}
		}
	})
}

func signRS256(t *testing.T, key *rsa.PrivateKey, hdr map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range hdr {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(claims)
	obj, err := s.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
