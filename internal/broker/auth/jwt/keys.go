package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/fail"
)

const (
	// minRefetch bounds how often a key set is fetched again, whatever
	// asks for it: tokens with unknown kids, or failures. Without it every
	// forged kid would be a request to the identity provider.
	minRefetch = 10 * time.Second
	// keyMaxAge is when cached keys are refreshed even if every kid is
	// known, so a key the provider withdrew stops working.
	keyMaxAge = time.Hour
	// keyMaxStale is how long cached keys keep working while refreshes
	// fail; after that logins fail closed until the provider answers.
	keyMaxStale = 24 * time.Hour
	// fetchTimeout caps a fetch even when the HTTP client has no timeout.
	fetchTimeout = 10 * time.Second
	// maxDocBytes caps a discovery document or JWKS.
	maxDocBytes = 1 << 20
)

// keySource is where a remote key set comes from: a discovery URL (the
// issuer) or a JWKS URL, and the CA bundle to trust for it.
type keySource struct {
	discoveryURL string
	jwksURL      string
	caPEM        string
}

// fetchError marks a failure to fetch keys, whose detail (addresses, TLS
// errors) is for the log, not for an unauthenticated caller.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return "fetching keys: " + e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// remoteKeys caches one source's verification keys.
type remoteKeys struct {
	src    keySource
	client *http.Client
	now    func() time.Time

	fetchMu sync.Mutex // one fetch at a time

	mu      sync.Mutex
	gen     int // fetch attempts so far
	keys    []jose.JSONWebKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
	lastErr error
}

// newRemoteKeys returns an empty cache for src. With a CA bundle, requests
// go through a copy of base's transport (or the default one, when base has
// a custom RoundTripper) that trusts only that bundle, as Vault's
// *_ca_pem fields do.
func newRemoteKeys(src keySource, base *http.Client, now func() time.Time) (*remoteKeys, error) {
	client := base
	if src.caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(src.caPEM)) {
			return nil, errors.New("could not parse CA PEM value successfully")
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if t, ok := base.Transport.(*http.Transport); ok {
			tr = t.Clone()
		}
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if tr.TLSClientConfig != nil {
			tlsConf = tr.TLSClientConfig.Clone()
		}
		tlsConf.RootCAs = pool
		tr.TLSClientConfig = tlsConf
		client = &http.Client{Transport: tr, Timeout: base.Timeout, CheckRedirect: base.CheckRedirect}
	}
	return &remoteKeys{src: src, client: client, now: now}, nil
}

// remoteFor returns the cached key set for src, replacing the cache when
// the configuration has moved to another source.
func (b *Backend) remoteFor(src keySource) (*remoteKeys, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.remote != nil && b.remote.src == src {
		return b.remote, nil
	}
	rk, err := newRemoteKeys(src, b.client, b.now)
	if err != nil {
		return nil, err
	}
	b.remote = rk
	return rk, nil
}

// staticKeys returns pems parsed, parsing them only when they differ from
// the last ones (the config changed, here or on another node).
func (b *Backend) staticKeys(pems []string) ([]crypto.PublicKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pemKeys != nil && slices.Equal(b.pems, pems) {
		return b.pemKeys, nil
	}
	keys := make([]crypto.PublicKey, 0, len(pems))
	for _, k := range pems {
		key, err := parsePublicKeyPEM(k)
		if err != nil {
			return nil, fmt.Errorf("error parsing public key: %w", err)
		}
		keys = append(keys, key)
	}
	b.pems, b.pemKeys = slices.Clone(pems), keys
	return keys, nil
}

// verifySignature checks jws against the config's keys and returns its
// payload and the public key that verified it. Only the key's own
// algorithm family can verify (go-jose checks alg against the key type),
// and jws was parsed with asymmetric algorithms only, so no key is ever
// used as an HMAC secret.
func (b *Backend) verifySignature(ctx context.Context, c *config, jws *jose.JSONWebSignature) ([]byte, crypto.PublicKey, error) {
	src, remote := c.source()
	if !remote {
		keys, err := b.staticKeys(c.JWTValidationPubKeys)
		if err != nil {
			return nil, nil, err
		}
		for _, key := range keys {
			if payload, err := jws.Verify(key); err == nil {
				return payload, key, nil
			}
		}
		return nil, nil, errors.New("no known key successfully validated the token signature")
	}
	rk, err := b.remoteFor(src)
	if err != nil {
		return nil, nil, &fetchError{err}
	}
	header := jws.Signatures[0].Header
	keys, err := rk.candidates(ctx, header.KeyID)
	if err != nil {
		return nil, nil, &fetchError{err}
	}
	if len(keys) == 0 {
		// The kid is the caller's: clipped, so a megabyte of it is not
		// echoed back (or into logs).
		return nil, nil, fmt.Errorf("no key with kid %q in the key set", fail.Clip(header.KeyID))
	}
	for i := range keys {
		if keys[i].Algorithm != "" && keys[i].Algorithm != header.Algorithm {
			continue
		}
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, keys[i].Key, nil
		}
	}
	return nil, nil, errors.New("failed to verify id token signature")
}

// candidates returns the cached keys that may have signed a token with kid
// (all of them when kid is empty). It fetches when nothing is cached, when
// the cache is older than keyMaxAge, or when kid is unknown, but never more
// often than once per minRefetch.
func (r *remoteKeys) candidates(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	r.mu.Lock()
	gen, keys, fetched, tried := r.gen, r.keys, r.fetched, r.tried
	r.mu.Unlock()

	now := r.now()
	due := gen == 0 || now.Sub(tried) >= minRefetch
	stale := fetched.IsZero() || now.Sub(fetched) >= keyMaxAge
	if due && (stale || len(withKid(keys, kid)) == 0) {
		_ = r.refresh(ctx, gen) // a failure is judged below, from the cache's age
	}

	r.mu.Lock()
	keys, fetched, lastErr := r.keys, r.fetched, r.lastErr
	r.mu.Unlock()
	if fetched.IsZero() || r.now().Sub(fetched) >= keyMaxStale {
		if lastErr == nil {
			lastErr = errors.New("no keys fetched yet")
		}
		return nil, lastErr
	}
	return withKid(keys, kid), nil
}

// refresh fetches the key set unless another fetch finished since the
// caller looked (its generation moved past seen), and returns this
// fetch's error.
func (r *remoteKeys) refresh(ctx context.Context, seen int) error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	moved := r.gen != seen
	r.mu.Unlock()
	if moved {
		return nil
	}

	// One caller's cancelled request must not fail the fetch for everyone
	// waiting on it, so the fetch has its own deadline.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	keys, err := r.fetch(fctx)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	r.tried = r.now()
	r.lastErr = err
	if err == nil {
		r.keys, r.fetched = keys, r.tried
	}
	return err
}

func (r *remoteKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	jwksURL := r.src.jwksURL
	if r.src.discoveryURL != "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		wellKnown := strings.TrimSuffix(r.src.discoveryURL, "/") + "/.well-known/openid-configuration"
		if err := r.getJSON(ctx, wellKnown, &doc); err != nil {
			return nil, err
		}
		// Exact match, as go-oidc requires: a document served for another
		// issuer (or with a different trailing slash) is not this one.
		if doc.Issuer != r.src.discoveryURL {
			return nil, fmt.Errorf("issuer did not match the returned issuer, expected %q got %q", r.src.discoveryURL, doc.Issuer)
		}
		if doc.JWKSURI == "" {
			return nil, errors.New("discovery document has no jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := r.getJSON(ctx, jwksURL, &set); err != nil {
		return nil, err
	}
	keys := []jose.JSONWebKey{}
	for _, raw := range set.Keys {
		if k, ok := usableKey(raw); ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func (r *remoteKeys) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", u, err)
	}
	if len(body) > maxDocBytes {
		return fmt.Errorf("%s: response larger than %d bytes", u, maxDocBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: decoding response: %w", u, err)
	}
	return nil
}

// usableKey parses one JWKS entry and keeps it only if it is a public
// signature key of a type this method verifies with. Entries it cannot use
// (encryption keys, symmetric keys, unknown types) are skipped, as go-oidc
// does, so one odd key does not break a provider's whole set.
func usableKey(raw json.RawMessage) (jose.JSONWebKey, bool) {
	var k jose.JSONWebKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return k, false
	}
	if k.Use != "" && k.Use != "sig" {
		return k, false
	}
	if k.Algorithm != "" && !slices.Contains(asymmetricAlgs, jose.SignatureAlgorithm(k.Algorithm)) {
		return k, false
	}
	pub := k.Public() // a set that leaks a private key still verifies only with its public half
	switch pub.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return pub, true
	}
	return k, false
}

func withKid(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// parsePublicKeyPEM reads an RSA, ECDSA or Ed25519 public key from a PEM
// PUBLIC KEY (PKIX), RSA PUBLIC KEY (PKCS #1) or CERTIFICATE block, the
// forms Vault's jwt_validation_pubkeys accepts.
func parsePublicKeyPEM(s string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, errors.New("data does not contain any valid RSA, ECDSA, or ED25519 public keys")
}
