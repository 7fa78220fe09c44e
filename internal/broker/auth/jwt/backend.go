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
	"crypto"
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
	// Own is runcred's own workload-identity issuer, wired by the daemon.
	// A login may name a run in its token's metadata (access.RunMeta) only
	// with a token Own signed; a token of any other issuer that carries
	// those claims is refused, whatever the mount trusts. Nil: no issuer
	// is runcred's own, so no login names a run.
	Own OwnIssuer
	// Phases says whether the run phase a token of Own names still runs:
	// such a token logs in only while it does.
	Phases Phases
}

// OwnIssuer is runcred's own issuer, as the jwt method needs it.
type OwnIssuer interface {
	// SignsWith reports whether iss is the issuer's and pub the public
	// half of one of its keys: a token that names iss and verifies with
	// pub is then one it minted.
	SignsWith(ctx context.Context, pub crypto.PublicKey, iss string) bool
}

// Backend is one mounted JWT auth method. Everything it serves lives in the
// request's Storage; the only state it keeps is a cache of remotely fetched
// signing keys, which any node can rebuild.
type Backend struct {
	conf   engine.MountConfig
	client *http.Client
	now    func() time.Time
	own    OwnIssuer
	phases Phases

	routes *engine.Routes

	mu     sync.Mutex
	remote *remoteKeys // the key set of the current config's URL, if remote
	// pems and pemKeys are the current config's jwt_validation_pubkeys
	// and those keys parsed, so a login parses them only after a change.
	pems    []string
	pemKeys []crypto.PublicKey
}

// New returns the backend for the mount described by conf.
func New(conf engine.MountConfig, opts Options) (*Backend, error) {
	b := &Backend{conf: conf, client: opts.HTTPClient, now: opts.Now, own: opts.Own, phases: opts.Phases}
	if b.client == nil {
		b.client = &http.Client{Timeout: 10 * time.Second}
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.routes = b.paths()
	return b, nil
}

// Factory returns an engine.Factory that builds a Backend with opts.
func Factory(opts Options) engine.Factory {
	return engine.FactoryOf(New, opts)
}

// Routes are the method's paths.
func (b *Backend) Routes() *engine.Routes { return b.routes }

// Cacheable names the method's config and roles, which every login loads,
// so a node serves reads of them from memory (engine.Cacheable): a change
// made on this node applies to the next login here, one made on another
// node once the nodes' refresh interval has passed, as for tokens and
// policies. Spent jti markers are never cached: single use must hold
// across nodes at once.
func (b *Backend) Cacheable(key string) bool {
	return key == configKey || strings.HasPrefix(key, roleKeyPrefix)
}

func unsupported() error { return fail.Unsupportedf("unsupported operation") }
