package jwt

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/fail"
)

// TestLoginCritHeader: RFC 7515 §4.1.11. A correctly signed token whose
// protected header carries "crit" is refused unless the list is non-empty
// and understood, and this method understands no extension. go-jose on its
// own accepts "crit": [], "crit": null and "crit": ["b64"].
func TestLoginCritHeader(t *testing.T) {
	e := newEnv(t)
	signed := func(crit any, extra map[jose.HeaderKey]any) string {
		opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", rsaSigner.kid).WithHeader("crit", crit)
		for k, v := range extra {
			opts = opts.WithHeader(k, v)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return signWith(t, s, e.claims())
	}
	long := strings.Repeat("z", 4096)
	for _, tc := range []struct {
		name, token, msg string
	}{
		{"empty list", signed([]string{}, nil), `"crit" header must not be empty`},
		{"null", signed(nil, nil), `"crit" header must be a list of header names`},
		{"not a list", signed("exp", nil), `"crit" header must be a list of header names`},
		{"unknown extension", signed([]string{"urn:x:policy"}, map[jose.HeaderKey]any{"urn:x:policy": 1}), `"crit" header names "urn:x:policy", an extension this method does not understand`},
		{"b64, which go-jose understands but a JWT may not use", signed([]string{"b64"}, map[jose.HeaderKey]any{"b64": true}), `names "b64"`},
		{"long name, clipped", signed([]string{long}, map[jose.HeaderKey]any{jose.HeaderKey(long): 1}), "does not understand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.login(t, tc.token)
			wantErr(t, err, fail.Invalid, tc.msg)
			if strings.Contains(err.Error(), long) {
				t.Fatal("the message echoes the whole header name")
			}
		})
	}
	// The same token without crit logs in: the refusal is crit's alone.
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
}

// TestLoginDoesNotEchoHeaders: a kid or alg of any length comes back at
// most clipped, never verbatim.
func TestLoginDoesNotEchoHeaders(t *testing.T) {
	e := newEnv(t)
	kid := strings.Repeat("k", 2000) + "\x00<script>"
	_, err := e.login(t, signKey{kid: kid, alg: jose.RS256, priv: otherKey}.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `no key with kid "kkkk`)
	if strings.Contains(err.Error(), kid[:100]) || len(err.Error()) > 300 {
		t.Fatalf("message echoes the kid: %d bytes", len(err.Error()))
	}

	alg := "HS256" + strings.Repeat("a", 2000)
	_, err = e.login(t, hmacToken(t, []byte(strings.Repeat("k", 32)), "rsa-1", e.claims())) // sanity: a short alg is named
	wantErr(t, err, fail.Invalid, `unexpected signature algorithm "HS256"`)
	forged := forgeAlg(t, rsaSigner.sign(t, e.claims()), alg)
	_, err = e.login(t, forged)
	wantErr(t, err, fail.Invalid, "unexpected signature algorithm")
	if strings.Contains(err.Error(), alg[:100]) || len(err.Error()) > 300 {
		t.Fatalf("message echoes the alg: %d bytes", len(err.Error()))
	}
}

// forgeAlg replaces the alg of token's protected header, keeping the rest
// (the signature no longer matches, which parsing never gets to).
func forgeAlg(t *testing.T, token, alg string) string {
	t.Helper()
	parts := strings.SplitN(token, ".", 2)
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	h["alg"] = alg
	raw, _ = json.Marshal(h)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + parts[1]
}
