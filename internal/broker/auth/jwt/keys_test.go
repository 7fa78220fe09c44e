package jwt

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestKeyRotationAndRefetchLimit(t *testing.T) {
	e := newEnv(t) // the config write fetched the keys once
	hits := func(want int32) {
		t.Helper()
		if got := e.idp.jwksHits.Load(); got != want {
			t.Fatalf("JWKS fetched %d times; want %d", got, want)
		}
	}
	hits(1)
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
	hits(1) // served from the cache

	rotated := signKey{kid: "rsa-2", alg: jose.RS256, priv: mustKey(rsa.GenerateKey(rand.Reader, 2048))}
	e.idp.setKeys(rsaSigner, ecSigner, rotated)
	_, err := e.login(t, rotated.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `no key with kid "rsa-2" in the key set`)
	hits(1) // the last fetch is less than minRefetch old

	e.clock.Add(minRefetch)
	if _, err := e.login(t, rotated.sign(t, e.claims())); err != nil {
		t.Fatalf("rotated key after refetch: %v", err)
	}
	hits(2)

	// A flood of forged kids costs at most one fetch per minRefetch.
	for i := range 20 {
		forged := signKey{kid: strings.Repeat("x", i+1), alg: jose.RS256, priv: otherKey}
		_, err := e.login(t, forged.sign(t, e.claims()))
		wantErr(t, err, fail.Invalid, "no key with kid")
	}
	hits(2)
	e.clock.Add(minRefetch)
	_, err = e.login(t, signKey{kid: "forged", alg: jose.RS256, priv: otherKey}.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, "no key with kid")
	hits(3)
}

func TestKeyWithdrawn(t *testing.T) {
	e := newEnv(t)
	e.idp.setKeys(ecSigner) // the provider drops the RSA key
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("cached key refused before keyMaxAge: %v", err)
	}
	e.clock.Add(keyMaxAge)
	_, err := e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `no key with kid "rsa-1"`)
}

func TestKeysProviderDown(t *testing.T) {
	e := newEnv(t)
	e.idp.setStatus(http.StatusInternalServerError)

	// Refreshes fail, but cached keys keep working for keyMaxStale.
	e.clock.Add(2 * keyMaxAge)
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("login with stale keys while the provider is down: %v", err)
	}
	// Then logins fail closed, without telling the caller where the
	// provider is or what went wrong.
	e.clock.Add(keyMaxStale)
	_, err := e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, "error validating token: error verifying token signature: could not fetch the signing keys")
	if msg := fail.Message(err); strings.Contains(msg, e.idp.srv.URL) || strings.Contains(msg, "500") {
		t.Fatalf("client message leaks the fetch failure: %q", msg)
	}
	if !strings.Contains(err.Error(), "500 Internal Server Error") {
		t.Fatalf("logged error %q lost the cause", err)
	}
	// Failures are rate limited too.
	docs := e.idp.docHits.Load()
	_, _ = e.login(t, rsaSigner.sign(t, e.claims()))
	if got := e.idp.docHits.Load(); got != docs {
		t.Fatalf("a failed fetch was retried at once (%d → %d requests)", docs, got)
	}
	e.idp.setStatus(0)
	e.clock.Add(minRefetch)
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("provider back: %v", err)
	}
}

// TestKeysColdNode is a second server node: same storage, empty cache.
// Concurrent first logins share one fetch.
func TestKeysColdNode(t *testing.T) {
	e := newEnv(t)
	o := opts(e.clock, e.idp.srv.Client())
	o.Own = e.b.own
	b2, err := New(e.b.conf, o)
	if err != nil {
		t.Fatal(err)
	}
	e.b = b2
	before := e.idp.jwksHits.Load()
	token := rsaSigner.sign(t, e.claims())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { // not e.login: t.Fatal is for the test goroutine only
			_, err := engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
				Operation: engine.Update, Path: "login", Storage: e.st, RemoteAddr: inside,
				Data: map[string]any{"role": "ci", "jwt": token},
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.idp.jwksHits.Load() - before; got != 1 {
		t.Fatalf("cold node fetched the JWKS %d times; want 1", got)
	}
}

func TestConfigChangeDropsCache(t *testing.T) {
	e := newEnv(t)
	other := newIDP(t, ecSigner)
	e.write(t, "config", map[string]any{"jwks_url": other.srv.URL + "/.well-known/jwks"})
	_, err := e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `no key with kid "rsa-1"`)
	if _, err := e.login(t, ecSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
}

// TestKeyAlgPinned: a JWK that names its algorithm verifies only tokens
// of that algorithm, even where go-jose would accept the key type.
func TestKeyAlgPinned(t *testing.T) {
	e := bareEnv(t)
	e.idp.setKeys(signKey{kid: "rsa-1", alg: jose.RS512, priv: rsaKey})
	e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL})
	e.write(t, "role/ci", ciRole())
	_, err := e.login(t, rsaSigner.sign(t, e.claims())) // RS256, same key
	wantErr(t, err, fail.Invalid, "failed to verify id token signature")
	if _, err := e.login(t, signKey{kid: "rsa-1", alg: jose.RS512, priv: rsaKey}.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
}

func TestUsableKey(t *testing.T) {
	pub, _ := json.Marshal(rsaSigner.public())
	priv, _ := json.Marshal(jose.JSONWebKey{Key: ecKey, KeyID: "p", Algorithm: "ES256"})
	oct, _ := json.Marshal(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "h"})
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"rsa public", string(pub), true},
		{"private key: public half kept", string(priv), true},
		{"symmetric", string(oct), false},
		{"HS256 alg on an RSA key", strings.Replace(string(pub), `"RS256"`, `"HS256"`, 1), false},
		{"encryption key", strings.Replace(string(pub), `"sig"`, `"enc"`, 1), false},
		{"unknown kty", `{"kty":"OKP","crv":"X448","x":"AA"}`, false},
		{"garbage", `[1,2]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := usableKey(json.RawMessage(tt.raw))
			if ok != tt.ok {
				t.Fatalf("usable = %v; want %v", ok, tt.ok)
			}
			if ok && !k.IsPublic() {
				t.Fatal("kept a private key")
			}
		})
	}
	// The whole set survives odd entries.
	e := bareEnv(t)
	e.idp.mu.Lock()
	e.idp.keys = append(e.idp.keys, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "rsa-1", Algorithm: "HS256"})
	e.idp.mu.Unlock()
	e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL})
	e.write(t, "role/ci", ciRole())
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
}

// TestStaticKeysFollowConfigChanges: the configured public keys are parsed
// once, and a config naming other keys (written here, or on another node
// sharing the storage) takes effect at the next login.
func TestStaticKeysFollowConfigChanges(t *testing.T) {
	e := bareEnv(t)
	e.write(t, "role/ci", ciRole())
	useKey := func(k crypto.PublicKey) {
		t.Helper()
		// Straight into storage, as another node's write would land.
		raw, _ := json.Marshal(map[string]any{"jwt_validation_pubkeys": []string{pemPublic(t, k)}, "bound_issuer": e.idp.srv.URL})
		if err := e.st.Put(context.Background(), "config", raw); err != nil {
			t.Fatal(err)
		}
	}
	useKey(rsaKey.Public())
	for range 2 {
		if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
			t.Fatalf("login with the configured key: %v", err)
		}
	}
	parsed := e.b.pemKeys
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil || &e.b.pemKeys[0] != &parsed[0] {
		t.Fatalf("keys parsed again without a config change (err %v)", err)
	}
	useKey(ecKey.Public())
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err == nil {
		t.Fatal("login with the key the config no longer names succeeded")
	}
	if _, err := e.login(t, ecSigner.sign(t, e.claims())); err != nil {
		t.Fatalf("login with the newly configured key: %v", err)
	}
}
