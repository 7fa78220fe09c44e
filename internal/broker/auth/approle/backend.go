// Package approle is Vault's AppRole auth method as a broker engine: roles a
// machine logs in to with a role_id and (usually) a secret_id, the secret IDs
// issued against them, and the login that turns both into a token request.
//
// Storage layout, all under the mount's sealed storage:
//
//	role/<name>                           role JSON; names are lower-cased, as Vault does
//	role_id/<hmac("role_id", role_id)>    {name}: login's index from role_id to role
//	secret_id/<scope>/<hmac(secret_id)>   secretIDEntry JSON
//	accessor/<scope>/<accessor>           {secret_id_hmac}: the accessor index
//
// <scope> is a random UUID a role gets when it is created. Everything about a
// role's secret IDs lives under it, so lookups and destroys through one role's
// path cannot reach another role's secret IDs (CVE-2023-24999), and a role
// deleted and created again under the same name does not inherit secret IDs
// left behind by a login that raced the delete. Secret IDs and role IDs are
// stored only as HMAC-SHA256 under the mount's key, never in plain text.
//
// Locks (Storage.Atomic): "roles" serialises every role write, which keeps
// the role_id index consistent; "secret_id/<scope>/<hmac>" serialises all
// use of one secret ID, which makes num_uses exact under concurrent logins.
package approle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// Options is what the core gives every approle mount.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HMACKey keys the HMAC under which secret IDs and role IDs are stored
	// and looked up. The core generates 32 random bytes per mount.
	HMACKey secret.Value
}

// Backend is one mounted AppRole auth method.
type Backend struct {
	conf     engine.MountConfig
	now      func() time.Time
	key      secret.Value
	maxLease time.Duration
	routes   *engine.Routes
}

const (
	// maxInputLength bounds role names, role IDs and secret IDs, as Vault's
	// maxHmacInputLength does.
	maxInputLength = 4096
	// systemMaxLeaseTTL is Vault's 768h, used when the mount reports none.
	systemMaxLeaseTTL = 768 * time.Hour
	rolesLock         = "roles"
)

var _ engine.Backend = (*Backend)(nil)

// New returns the engine for one approle mount.
func New(conf engine.MountConfig, opts Options) (*Backend, error) {
	if len(opts.HMACKey.Reveal()) < 32 {
		return nil, errors.New("approle: the HMAC key must be at least 32 bytes")
	}
	b := &Backend{conf: conf, now: opts.Now, key: opts.HMACKey, maxLease: conf.MaxLeaseTTL}
	if b.now == nil {
		b.now = time.Now
	}
	if b.maxLease <= 0 {
		b.maxLease = systemMaxLeaseTTL
	}
	b.routes = b.paths()
	return b, nil
}

// Factory returns an engine.Factory that builds approle mounts with opts.
func Factory(opts Options) engine.Factory {
	return engine.FactoryOf(New, opts)
}

// Routes are the method's paths.
func (b *Backend) Routes() *engine.Routes { return b.routes }

// hmacOf is HMAC-SHA256 under the mount key of a domain-separated value, in
// hex, so a role_id can never collide with a secret_id of the same text.
func (b *Backend) hmacOf(domain string, parts ...string) string {
	m := hmac.New(sha256.New, b.key.Reveal())
	m.Write([]byte(domain))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func getJSON(ctx context.Context, s engine.Storage, key string, v any) (bool, error) {
	raw, err := s.Get(ctx, key)
	if err != nil || raw == nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fail.Wrap(fail.Internal, err, "corrupt approle storage entry")
	}
	return true, nil
}

func putJSON(ctx context.Context, s engine.Storage, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Put(ctx, key, raw)
}

// listResponse is a LIST answer; an empty list is (nil, nil), a 404.
func listResponse(keys []string) *engine.Response {
	if len(keys) == 0 {
		return nil
	}
	return &engine.Response{Data: map[string]any{"keys": keys}}
}

// unknownWarning is Vault's warning about fields an endpoint ignored.
func unknownWarning(f engine.Fields, known ...string) []string {
	if u := f.Unknown(known...); len(u) > 0 {
		return []string{"Endpoint ignored these unrecognized parameters: [" + strings.Join(u, " ") + "]"}
	}
	return nil
}
