package jwt

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/clocktest"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/fail"
)

// Keys are made once per test binary: RSA generation is slow.
var (
	rsaKey   = mustKey(rsa.GenerateKey(rand.Reader, 2048))
	ecKey    = mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	otherKey = mustKey(rsa.GenerateKey(rand.Reader, 2048)) // trusted by nobody
	edPriv   = func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }()

	rsaSigner   = signKey{kid: "rsa-1", alg: jose.RS256, priv: rsaKey}
	ecSigner    = signKey{kid: "ec-1", alg: jose.ES256, priv: ecKey}
	otherSigner = signKey{kid: "rsa-1", alg: jose.RS256, priv: otherKey} // same kid, wrong key
)

func mustKey[K any](k K, err error) K {
	if err != nil {
		panic(err)
	}
	return k
}

// ownKeys stands for runcred's own issuer in these tests: the IdP (its
// issuer URL and every key it has served) is runcred's own unless a test
// says otherwise (identity.Issuer.SignsWith, which the daemon wires, is
// tested with the real issuer in the broker's and daemon's tests).
type ownKeys struct {
	idp   *idp
	calls atomic.Int32
}

func (o *ownKeys) SignsWith(_ context.Context, pub crypto.PublicKey, iss string) bool {
	o.calls.Add(1)
	if iss != o.idp.srv.URL {
		return false
	}
	o.idp.mu.Lock()
	defer o.idp.mu.Unlock()
	return slices.ContainsFunc(o.idp.ever, func(k jose.JSONWebKey) bool {
		e, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool })
		return ok && e.Equal(pub)
	})
}

// start is the fixed time tests begin at; the clock only moves when a test
// moves it.
var start = time.Unix(1_800_000_000, 0)

func newClock() *clocktest.Clock { return clocktest.New(start) }

// opts are the backend options for clock c and IdP client h.
func opts(c *clocktest.Clock, h *http.Client) Options { return Options{HTTPClient: h, Now: c.Now} }

type signKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k signKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

func (k signKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return signWith(t, s, claims)
}

func signWith(t testing.TB, s jose.Signer, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hmacToken signs claims with HS256 using secret as the HMAC key: the
// classic attack of using a verifier's public key bytes as the secret.
func hmacToken(t testing.TB, secret []byte, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	return signWith(t, s, claims)
}

// noneToken is an unsigned token with alg "none".
func noneToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}

func pemPublic(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// idp is an identity provider: an OIDC discovery document and a JWKS.
type idp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []jose.JSONWebKey
	ever     []jose.JSONWebKey // every key keys held: the issuer's whole keyring
	issuer   string            // what the discovery document claims; the server URL by default
	status   int               // non-zero: every response is this status
	docHits  atomic.Int32
	jwksHits atomic.Int32
}

func newIDP(t testing.TB, signers ...signKey) *idp { return startIDP(t, httptest.NewServer, signers) }

// newTLSIDP serves the RSA key over TLS with httptest's own CA.
func newTLSIDP(t testing.TB) *idp { return startIDP(t, httptest.NewTLSServer, []signKey{rsaSigner}) }

func startIDP(t testing.TB, serve func(http.Handler) *httptest.Server, signers []signKey) *idp {
	p := &idp{}
	for _, s := range signers {
		p.keys = append(p.keys, s.public())
	}
	p.ever = slices.Clone(p.keys)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.docHits.Add(1)
		p.mu.Lock()
		iss, status := p.issuer, p.status
		p.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		if iss == "" {
			iss = p.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.srv.URL + "/.well-known/jwks"})
	})
	mux.HandleFunc("/.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.status != 0 {
			w.WriteHeader(p.status)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	})
	p.srv = serve(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) setStatus(code int) { p.mu.Lock(); p.status = code; p.mu.Unlock() }
func (p *idp) setKeys(ks ...signKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = nil
	for _, k := range ks {
		p.keys = append(p.keys, k.public())
		p.ever = append(p.ever, k.public())
	}
}

// env is a backend under test with its storage, clock and IdP.
type env struct {
	b     *Backend
	st    *enginetest.Storage
	clock *clocktest.Clock
	idp   *idp
}

// newEnv mounts a backend configured for discovery against a fresh IdP
// serving the RSA and EC keys, with role "ci" written from ciRole().
func newEnv(t testing.TB) *env {
	t.Helper()
	e := bareEnv(t)
	e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL, "bound_issuer": e.idp.srv.URL})
	e.write(t, "role/ci", ciRole())
	return e
}

// bareEnv mounts an unconfigured backend with an IdP.
func bareEnv(t testing.TB) *env {
	t.Helper()
	c := newClock()
	p := newIDP(t, rsaSigner, ecSigner)
	o := opts(c, p.srv.Client())
	o.Own = &ownKeys{idp: p}
	b, err := New(engine.MountConfig{Path: "auth/jwt/", Type: "jwt", MaxLeaseTTL: 768 * time.Hour}, o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{b: b, st: enginetest.NewStorage(), clock: c, idp: p}
}

func ciRole() map[string]any {
	return map[string]any{
		"role_type":         "jwt",
		"user_claim":        "terraform_full_workspace",
		"bound_audiences":   []any{"runcred"},
		"bound_claims":      map[string]any{"terraform_organization_name": "acme"},
		"claim_mappings":    map[string]any{"terraform_project_name": "project", "run_attempt": "attempt"},
		"token_policies":    "deploy, Read",
		"token_ttl":         "10m",
		"token_max_ttl":     3600,
		"token_bound_cidrs": []any{"10.0.0.0/8"},
	}
}

// claimsAt are the claims of a good token for role "ci" issued at now.
func (e *env) claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":                         e.idp.srv.URL,
		"sub":                         "organization:acme:project:p:workspace:w:run_phase:plan",
		"aud":                         "runcred",
		"iat":                         now.Unix(),
		"nbf":                         now.Unix(),
		"exp":                         now.Add(5 * time.Minute).Unix(),
		"terraform_organization_name": "acme",
		"terraform_project_name":      "p",
		"terraform_full_workspace":    "organization:acme:project:p:workspace:w",
		"terraform_workspace_id":      "ws-123",
		"terraform_run_id":            "run-abc",
		"terraform_run_phase":         "plan",
		"run_attempt":                 json.Number("2"),
	}
}

func (e *env) claims() map[string]any { return e.claimsAt(e.clock.Now()) }

func (e *env) write(t testing.TB, path string, data map[string]any) *engine.Response {
	t.Helper()
	resp, err := e.call(engine.Update, path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return resp
}

func (e *env) call(op engine.Operation, path string, data map[string]any) (*engine.Response, error) {
	return engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
		Operation: op, Path: path, MountPath: "auth/jwt/", Data: asJSON(data), Storage: e.st,
	})
}

// asJSON gives data the types a JSON request body decodes to.
func asJSON(data map[string]any) map[string]any {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	out := map[string]any{}
	if err := dec.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

var inside = netip.MustParseAddr("10.1.2.3")

// login logs in from addr and checks the CVE-2026-46405 invariant: an
// error never comes with a response.
func (e *env) loginFrom(t testing.TB, addr netip.Addr, data map[string]any) (*engine.Auth, error) {
	t.Helper()
	resp, err := engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
		Operation: engine.Update, Path: "login", MountPath: "auth/jwt/", Data: asJSON(data), Storage: e.st, RemoteAddr: addr,
	})
	if err != nil {
		if resp != nil {
			t.Fatalf("login failed with %v but returned a response %+v", err, resp)
		}
		return nil, err
	}
	if resp == nil || resp.Auth == nil {
		t.Fatalf("login returned no Auth: %+v", resp)
	}
	return resp.Auth, nil
}

func (e *env) login(t testing.TB, token string) (*engine.Auth, error) {
	t.Helper()
	return e.loginFrom(t, inside, map[string]any{"role": "ci", "jwt": token})
}

// wantErr checks err's kind and that its client message contains msg.
func wantErr(t testing.TB, err error, kind fail.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want %v %q", kind, msg)
	}
	if got := fail.KindOf(err); got != kind {
		t.Fatalf("error %q is %v; want %v", err, got, kind)
	}
	if got := fail.Message(err); !strings.Contains(got, msg) {
		t.Fatalf("error message %q does not contain %q", got, msg)
	}
}
