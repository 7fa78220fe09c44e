// Package jwt is Vault's JWT auth method (role_type "jwt") as a broker
// engine: it owns the method's configuration (where signing keys come from,
// the bound issuer, the accepted algorithms), its roles (which tokens may
// log in and what token they get) and the login itself, which verifies a
// signed JWT and answers with the Auth the core turns into a broker token.
//
// Paths, fields, defaults, messages and the order of checks follow Vault's
// jwt plugin (openbao internal/builtin/credential/jwt, hashicorp/cap jwt);
// the places where this package is deliberately stricter are marked in
// comments. The interactive OIDC flow (role_type "oidc") is not served: such
// roles can be stored, as in Vault, but logging in with one is refused.
package jwt

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Options are the dependencies of a Backend.
type Options struct {
	// HTTPClient fetches OIDC discovery documents and JWKS. Nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for token times and key-cache ages. Nil means
	// time.Now.
	Now func() time.Time
}

// Backend is one mounted JWT auth method. Everything it serves lives in the
// request's Storage; the only state it keeps is a cache of remotely fetched
// signing keys, which any node can rebuild.
type Backend struct {
	conf   engine.MountConfig
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex
	remote *remoteKeys // the key set of the current config's URL, if remote
}

// New returns the backend for the mount described by conf.
func New(conf engine.MountConfig, opts Options) (*Backend, error) {
	b := &Backend{conf: conf, client: opts.HTTPClient, now: opts.Now}
	if b.client == nil {
		b.client = &http.Client{Timeout: 10 * time.Second}
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// Factory returns an engine.Factory that builds a Backend with opts.
func Factory(opts Options) engine.Factory {
	return func(_ context.Context, conf engine.MountConfig) (engine.Backend, error) {
		return New(conf, opts)
	}
}

// Unauthenticated lists the paths the core serves without a token.
func (b *Backend) Unauthenticated() []string { return []string{"login"} }

// Sudo lists the paths that need sudo; the JWT method has none.
func (b *Backend) Sudo() []string { return nil }

// Exists tells the core whether a write to a role creates or updates it.
// Every other path is always written as an update, as in Vault.
func (b *Backend) Exists(ctx context.Context, req *engine.Request) (bool, error) {
	name, ok := strings.CutPrefix(req.Path, "role/")
	if !ok {
		return true, nil
	}
	name, err := roleName(name)
	if err != nil {
		return false, nil // the write itself reports the bad name
	}
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return false, err
	}
	return r != nil, nil
}

// HandleRequest routes a request to its path's handler.
func (b *Backend) HandleRequest(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	write := req.Operation == engine.Update || req.Operation == engine.Create
	switch {
	case req.Path == "login":
		if !write {
			return nil, unsupported()
		}
		resp, err := b.login(ctx, req)
		if err != nil {
			// A failed login never carries an Auth (CVE-2026-46405: a
			// response with both became a token).
			return nil, err
		}
		return resp, nil

	case req.Path == "config":
		switch {
		case req.Operation == engine.Read:
			return b.readConfig(ctx, req)
		case write:
			return b.writeConfig(ctx, req)
		}
		return nil, unsupported()

	case req.Path == "role" || req.Path == "role/":
		if req.Operation != engine.List {
			return nil, unsupported()
		}
		return listRoles(ctx, req)

	case strings.HasPrefix(req.Path, "role/") && !strings.Contains(req.Path[len("role/"):], "/"):
		name, err := pathRoleName(req.Path[len("role/"):])
		if err != nil {
			return nil, err
		}
		switch {
		case req.Operation == engine.Read:
			return readRole(ctx, req, name)
		case write:
			return b.writeRole(ctx, req, name)
		case req.Operation == engine.Delete:
			return nil, req.Storage.Delete(ctx, roleKeyPrefix+name)
		}
		return nil, unsupported()
	}
	return nil, fail.NotFoundf(`no handler for route "%s". route entry not found.`, req.MountPath+req.Path)
}

func unsupported() error { return fail.Unsupportedf("unsupported operation") }
