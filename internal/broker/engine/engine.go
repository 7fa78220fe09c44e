// Package engine is the contract between the broker core and the things
// mounted in it: auth methods (jwt, approle) and secrets engines (kv, aws).
//
// An engine declares its paths as a route table (Routes: pattern,
// operations and their handlers, unauthenticated, sudo, existence check).
// A handler sees a transport-free Request with its path relative to the
// mount, and answers with a Response: data, a dynamic Secret the core turns
// into a lease, or an Auth the core turns into a token. Engines never see
// HTTP, ACL policies, tokens or the audit log; the core has already checked
// the caller and will audit what the engine returns. Everything an engine
// keeps goes through its Storage, which the core seals at rest and scopes to
// the mount, so an engine holds no state of its own that another server node
// would not see.
//
// Errors follow Vault's status rules through fail kinds: fail.Invalid is 400
// (the usual answer to a bad login or a bad field), fail.Denied 403,
// fail.NotFound 404, fail.Unsupported 405, fail.Upstream 502; anything else
// is a 500 whose cause is logged and not shown. A nil Response with a nil
// error on a read is a 404, as in Vault.
package engine

import (
	"context"
	"net/netip"
	"time"
)

// Operation is what a request does, in Vault's vocabulary. The core maps
// HTTP methods onto it (GET read, PUT/POST create or update, DELETE delete,
// LIST or GET ?list=true list, PATCH patch).
type Operation string

const (
	Read   Operation = "read"
	Create Operation = "create"
	Update Operation = "update"
	Delete Operation = "delete"
	List   Operation = "list"
	Patch  Operation = "patch"
)

// Request is one call into an engine.
type Request struct {
	Operation Operation
	// Path is relative to the mount, without a leading slash: "creds/deploy",
	// "data/app/db", "login". Segments "." and ".." never reach an engine.
	Path string
	// MountPath is where the engine is mounted, with a trailing slash:
	// "aws/", "auth/jwt/". Lease ids and messages use it.
	MountPath string
	// Data is the JSON body; on a GET or LIST the query parameters (other
	// than list=true) are put here instead, as Vault does for ReadWithData.
	Data map[string]any
	// Token is who is calling; nil on unauthenticated paths (logins).
	Token *Token
	// RemoteAddr is the client address, for CIDR bindings.
	RemoteAddr netip.Addr
	// Storage is this mount's sealed key/value storage.
	Storage Storage
}

// Token describes the calling token, for engines that name things after it
// (the AWS engine's session names, for one).
type Token struct {
	Accessor    string
	DisplayName string
	Policies    []string
	Meta        map[string]string // includes terraform_run_id / terraform_run_phase after a run's jwt login
}

// Response is what an engine answers. All fields are optional.
type Response struct {
	Data     map[string]any
	Warnings []string
	// Secret makes the response a dynamic secret: the core registers a lease
	// (persisted before the response leaves) and revokes it through the
	// engine's Revoke at its end.
	Secret *Secret
	// Auth makes the response a login: the core creates a token.
	Auth *Auth
	// Status overrides the HTTP status (KV v2 answers a deleted version with
	// 404 and its metadata). Zero means 200, or 204 when there is no body.
	Status int
}

// Secret describes the lease for a dynamic secret.
type Secret struct {
	TTL       time.Duration // 0: the mount's default lease TTL
	MaxTTL    time.Duration // 0: the mount's maximum
	Renewable bool
	// Internal is kept (sealed) with the lease and handed back to Revoke and
	// Renew; it never leaves the server.
	Internal map[string]any
}

// Auth describes the token a login should produce.
type Auth struct {
	DisplayName     string            // the caller's part (the jwt user claim), or empty; the core prefixes the mount name: "jwt-<claim>", "approle"
	Policies        []string          // names; the core adds "default" unless NoDefaultPolicy
	NoDefaultPolicy bool              //
	Metadata        map[string]string // token metadata (role, mapped claims, run id and phase)
	TTL             time.Duration     // 0: mount default
	MaxTTL          time.Duration     // 0: mount maximum
	ExplicitMaxTTL  time.Duration     // hard cap, 0: none
	Period          time.Duration     // periodic token, 0: not periodic
	NumUses         int               // 0: unlimited
	BoundCIDRs      []netip.Prefix    // the token works only from these addresses
	Renewable       bool
	TokenType       string // "service" (default) or "batch"
	// Alias is the identity the login names (the jwt user claim, the AppRole
	// role_id); it is recorded with the token for audit.
	Alias string
	// RunAttested says Metadata's run keys (access.RunMeta) come from a
	// token runcred's own issuer signed: only the jwt method sets it, and
	// only after checking the token against that issuer's keys. Without
	// it the core refuses metadata that names a run.
	RunAttested bool
}

// Backend is an engine instance mounted at one path. It declares what it
// serves as a route table (route.go): the core matches a request's path
// against it once, for the handler, the existence check and whether the
// path needs no token or needs sudo.
type Backend interface {
	Routes() *Routes
}

// Cacheable is implemented by engines some of whose storage keys are read
// on nearly every request and written seldom (configuration, roles,
// metadata). The core may then serve reads of those keys, outside Atomic,
// from the server node's memory: a write through this node's Storage is
// seen by the next read here, a write on another node once the nodes'
// refresh interval has passed. Keys whose reads must see every other
// node's writes at once (single-use markers, counters) must not be named.
type Cacheable interface {
	Cacheable(key string) bool
}

// Lease is what Revoke and Renew get back of a lease the engine created.
type Lease struct {
	ID        string
	Path      string // the request path relative to the mount, e.g. "creds/deploy"
	Internal  map[string]any
	IssueTime time.Time
	TTL       time.Duration
	Storage   Storage
}

// Revoker is implemented by secrets engines whose secrets can be revoked.
// Revoke must be idempotent: the core retries with backoff until it succeeds
// or marks the lease irrevocable. An engine whose secrets cannot be revoked
// (STS credentials) does not implement it; their leases simply end.
type Revoker interface {
	Revoke(ctx context.Context, l Lease) error
}

// Renewer is implemented by secrets engines whose secrets can be renewed.
// It returns the new TTL (the core caps it at the lease's maximum).
type Renewer interface {
	Renew(ctx context.Context, l Lease, increment time.Duration) (time.Duration, error)
}

// Storage is a mount's key/value storage. Keys are slash-separated paths.
// Values are sealed at rest by the core; an engine stores plain bytes.
type Storage interface {
	// Get returns nil, nil when key does not exist.
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	// Delete of a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the names directly under prefix (which ends in "/" or is
	// empty), sorted; names of deeper "folders" end in "/", as in Vault.
	List(ctx context.Context, prefix string) ([]string, error)
	// Atomic runs fn with a Storage whose reads and writes form one
	// transaction, serialised against every other Atomic on the same lock
	// name in this mount, on every server node. fn's error rolls it back.
	Atomic(ctx context.Context, lock string, fn func(Storage) error) error
}

// Factory builds the engine for a new mount. It is called once per mount
// per server node; the engine must keep its state in the request's Storage.
type Factory func(ctx context.Context, conf MountConfig) (Backend, error)

// FactoryOf is the Factory of an engine built by newBackend from its mount's
// config and opts. A failed build yields a nil Backend, never a typed nil.
func FactoryOf[B Backend, O any](newBackend func(MountConfig, O) (B, error), opts O) Factory {
	return func(_ context.Context, conf MountConfig) (Backend, error) {
		b, err := newBackend(conf, opts)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// MountConfig is what an engine knows about its mount.
type MountConfig struct {
	Path    string            // "aws/", "auth/jwt/"
	Type    string            // "aws", "jwt", "kv"
	Options map[string]string // e.g. {"version":"2"} for kv
	// DefaultLeaseTTL and MaxLeaseTTL are the mount's effective values
	// (the system's 768h when unset).
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
}
