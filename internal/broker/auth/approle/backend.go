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
}

const (
	// maxInputLength bounds role names, role IDs and secret IDs, as Vault's
	// maxHmacInputLength does.
	maxInputLength = 4096
	// systemMaxLeaseTTL is Vault's 768h, used when the mount reports none.
	systemMaxLeaseTTL = 768 * time.Hour
	rolesLock         = "roles"
)

var (
	_ engine.Backend          = (*Backend)(nil)
	_ engine.PathsSpecial     = (*Backend)(nil)
	_ engine.ExistenceChecker = (*Backend)(nil)
)

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
	return b, nil
}

// Factory returns an engine.Factory that builds approle mounts with opts.
func Factory(opts Options) engine.Factory {
	return func(_ context.Context, conf engine.MountConfig) (engine.Backend, error) {
		return New(conf, opts)
	}
}

// Unauthenticated lists the paths that need no token: the login.
func (b *Backend) Unauthenticated() []string { return []string{"login"} }

// Sudo lists the paths that need sudo: none.
func (b *Backend) Sudo() []string { return nil }

// Exists tells a role create from a role update; every other write is an
// update, as in Vault.
func (b *Backend) Exists(ctx context.Context, req *engine.Request) (bool, error) {
	parts := strings.Split(strings.TrimSuffix(req.Path, "/"), "/")
	if len(parts) != 2 || parts[0] != "role" {
		return true, nil
	}
	if validRoleName(parts[1]) != nil {
		return false, nil
	}
	r, err := loadRole(ctx, req.Storage, strings.ToLower(parts[1]))
	return r != nil, err
}

type handler func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error)

// roleRoutes are the paths under role/<name>/, by what follows the name.
func (b *Backend) roleRoutes(rest string) map[engine.Operation]handler {
	switch rest {
	case "":
		return map[engine.Operation]handler{
			engine.Read: b.readRole, engine.Create: b.writeRole, engine.Update: b.writeRole, engine.Delete: b.deleteRole,
		}
	case "role-id":
		return map[engine.Operation]handler{engine.Read: b.readRoleID, engine.Update: b.writeRoleID}
	case "secret-id":
		return map[engine.Operation]handler{engine.Update: b.issueSecretID, engine.List: b.listSecretIDs}
	case "custom-secret-id":
		return map[engine.Operation]handler{engine.Update: b.issueCustomSecretID}
	case "secret-id/lookup":
		return map[engine.Operation]handler{engine.Update: b.lookupSecretID}
	case "secret-id/destroy":
		return map[engine.Operation]handler{engine.Update: b.destroySecretID, engine.Delete: b.destroySecretID}
	case "secret-id-accessor/lookup":
		return map[engine.Operation]handler{engine.Update: b.lookupAccessor}
	case "secret-id-accessor/destroy":
		return map[engine.Operation]handler{engine.Update: b.destroyAccessor, engine.Delete: b.destroyAccessor}
	}
	if fe, ok := fieldEndpoints[rest]; ok {
		return map[engine.Operation]handler{
			engine.Read: func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
				return b.readField(ctx, req, name, fe)
			},
			engine.Update: func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
				return b.writeField(ctx, req, name, fe)
			},
			engine.Delete: func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
				return b.resetField(ctx, req, name, fe)
			},
		}
	}
	return nil
}

// HandleRequest routes one request.
func (b *Backend) HandleRequest(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	path := strings.TrimSuffix(req.Path, "/")
	var routes map[engine.Operation]handler
	name := ""
	switch {
	case path == "login":
		routes = map[engine.Operation]handler{engine.Update: b.login}
	case path == "tidy/secret-id":
		routes = map[engine.Operation]handler{engine.Update: b.tidy}
	case path == "role":
		routes = map[engine.Operation]handler{engine.List: b.listRoles}
	case strings.HasPrefix(path, "role/"):
		var rest string
		name, rest, _ = strings.Cut(strings.TrimPrefix(path, "role/"), "/")
		if routes = b.roleRoutes(rest); routes != nil {
			if err := validRoleName(name); err != nil {
				return nil, err
			}
			// ACL policies match the path as sent, so a deny on role/admin
			// must not be passed by writing role/ADMIN: names in paths are
			// lower case.
			if lower := strings.ToLower(name); lower != name {
				return nil, fail.Invalidf("role names are case-insensitive and must be given in lower case: use %q", lower)
			}
		}
	}
	if routes == nil {
		return nil, fail.NotFoundf(`no handler for route "%s". route entry not found.`, req.MountPath+req.Path)
	}
	op := req.Operation
	if _, ok := routes[op]; !ok && op == engine.Create {
		op = engine.Update // only role/<name> tells create from update
	}
	h, ok := routes[op]
	if !ok {
		return nil, fail.Unsupportedf("unsupported operation")
	}
	return h(ctx, req, name)
}

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
