package jwt

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// The tests here hold each limit at its edge: the last value a bound admits
// is admitted and the first it refuses is refused, so a check that drifts
// by one is seen.

// TestLoginAtTheBounds logs in with a token of exactly maxTokenBytes whose
// exp is exactly maxNumericDate.
func TestLoginAtTheBounds(t *testing.T) {
	e := newEnv(t)
	claims := e.claims()
	claims["exp"] = int64(maxNumericDate)
	claims["pad"] = ""
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	// The payload's base64 grows by one or two characters a byte, so some
	// lengths are out of its reach: a header pad of 0-3 bytes moves them.
	enc := base64.RawURLEncoding
	var token string
	for hpad := 0; hpad < 4 && token == ""; hpad++ {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: rsaSigner.alg, Key: rsaSigner.priv},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", rsaSigner.kid).WithHeader("pad", strings.Repeat("h", hpad)))
		if err != nil {
			t.Fatal(err)
		}
		claims["pad"] = ""
		fixed := len(signWith(t, s, claims)) - enc.EncodedLen(len(payload))
		for n := 0; fixed+enc.EncodedLen(len(payload)+n) <= maxTokenBytes; n++ {
			if fixed+enc.EncodedLen(len(payload)+n) == maxTokenBytes {
				claims["pad"] = strings.Repeat("p", n)
				token = signWith(t, s, claims)
			}
		}
	}
	if len(token) != maxTokenBytes {
		t.Fatalf("token is %d bytes, want %d", len(token), maxTokenBytes)
	}
	if _, err := e.login(t, token); err != nil {
		t.Fatalf("login with a token at the bounds: %v", err)
	}
}

// TestKeysStaleAtTheBound: cached keys stop working exactly keyMaxStale
// after they were fetched.
func TestKeysStaleAtTheBound(t *testing.T) {
	e := newEnv(t)
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
	e.idp.setStatus(http.StatusInternalServerError)
	e.clock.Add(keyMaxStale - time.Second)
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("a second before keyMaxStale: %v", err)
	}
	e.clock.Add(time.Second)
	_, err := e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, "could not fetch the signing keys")
}

// TestKeysDocumentAtTheBound: a JWKS of exactly maxDocBytes is read whole.
func TestKeysDocumentAtTheBound(t *testing.T) {
	e := bareEnv(t)
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaSigner.public()}})
	if err != nil {
		t.Fatal(err)
	}
	// Leading blanks: a body cut short loses the document's closing brace.
	body := append([]byte(strings.Repeat(" ", maxDocBytes-len(doc))), doc...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)
	e.b.client = srv.Client()
	e.write(t, "config", map[string]any{"jwks_url": srv.URL, "bound_issuer": e.idp.srv.URL})
	e.write(t, "role/ci", ciRole())
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("login with a JWKS of maxDocBytes: %v", err)
	}
}

// TestConfigCAPlainTransport: a CA bundle works with a client whose
// transport has no TLS configuration of its own (an HTTP/2-capable
// transport always makes one; a non-nil TLSNextProto turns that off).
func TestConfigCAPlainTransport(t *testing.T) {
	e := bareEnv(t)
	tlsIDP := newTLSIDP(t)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsIDP.srv.Certificate().Raw}))
	e.b.client = &http.Client{Transport: &http.Transport{TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	e.write(t, "config", map[string]any{"jwks_url": tlsIDP.srv.URL + "/.well-known/jwks", "jwks_ca_pem": caPEM})
}

// TestRoleAtTheBounds writes roles at the edges of the name length and the
// mount's maximum lease TTL.
func TestRoleAtTheBounds(t *testing.T) {
	e := bareEnv(t)
	role := func(extra map[string]any) map[string]any {
		r := ciRole()
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	e.write(t, "role/"+strings.Repeat("n", 256), ciRole())
	_, err := e.call(engine.Update, "role/"+strings.Repeat("n", 257), ciRole())
	wantErr(t, err, fail.Invalid, "invalid role name")

	// A period or token_max_ttl equal to the mount's maximum is allowed
	// and not truncated.
	if resp := e.write(t, "role/max", role(map[string]any{"period": "768h", "token_max_ttl": "768h"})); resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("warnings at the mount's maximum: %v", resp.Warnings)
	}
	// A mount without a maximum bounds neither.
	unbounded, err := New(engine.MountConfig{Path: "auth/jwt/", Type: "jwt"}, opts(e.clock, e.idp.srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	e.b = unbounded
	if resp := e.write(t, "role/any", role(map[string]any{"period": "10000h", "token_max_ttl": "10000h"})); resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("warnings on a mount without a maximum: %v", resp.Warnings)
	}
}

// TestRoleUpdateKeepsBoundClaimsType: an update that does not name
// bound_claims_type keeps the role's glob matching.
func TestRoleUpdateKeepsBoundClaimsType(t *testing.T) {
	e := bareEnv(t)
	e.write(t, "role/g", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "a",
		"bound_claims_type": "glob", "bound_claims": map[string]any{"org": "acme-*"}})
	e.write(t, "role/g", map[string]any{"token_ttl": "5m"})
	resp, err := e.call(engine.Read, "role/g", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Data["bound_claims_type"]; got != "glob" {
		t.Fatalf("bound_claims_type after an update = %v, want glob", got)
	}
}
