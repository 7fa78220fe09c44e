// Package broker is runcred's Vault-compatible core: the request pipeline
// that every /v1/ call goes through, and the parts of Vault that are not
// engines — tokens, ACL policies, mounts, leases and their expiry, audit.
//
// The pipeline, in order (Handle):
//
//	transport-free Request → path checks → route by mount → match the
//	mount's route table → token check → existence check → ACL check (and
//	sudo where the route says) → audit the request (fail closed) → spend a
//	token use → the route's handler → lease or token registration → audit
//	the response (fail closed) → Response
//
// Every mount serves a route table (engine.Table): the core's own for sys/
// (sys_routes.go) and auth/token/ (token_routes.go), an engine's for the
// rest (routing.go). Whether a path needs no token or needs sudo, and how a
// write tells create from update, come from the route the path matches, so
// the pipeline never asks what kind of mount it serves. The token check
// (authenticate.go) is also the one runcred's own API uses (Caller).
//
// Engines (internal/broker/engine) never see HTTP, ACL or audit; the HTTP
// transport (http.go) never sees policies or storage.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/metrics"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/token"
)

// SystemMaxTTL is Vault's system default and maximum lease TTL (768h).
const SystemMaxTTL = 32 * 24 * time.Hour

// Version is the Vault API version runcred's broker reports in
// sys/seal-status and sys/health; terraform-provider-vault requires a semver.
const Version = "1.21.0+runcred"

// Config is what a Broker is built from.
type Config struct {
	DB     *store.DB
	Seal   *seal.Seal
	Audit  *audit.Log
	Tokens *token.Store
	// Engines maps a mount type ("jwt", "approle", "kv", "aws") to its factory.
	Engines map[string]engine.Factory
	Logger  *slog.Logger
	Now     func() time.Time
	// Refresh is how often cached mounts and policies are re-read, so a
	// change made on another server node is seen within it.
	Refresh time.Duration
	// RevokeBackoff is the base of the retry backoff for failed lease
	// revocations (Vault: 10s, doubling per attempt).
	RevokeBackoff time.Duration
	// MaxRevokeAttempts after which a lease is marked irrevocable (Vault: 6).
	MaxRevokeAttempts int
	// RevokeRate bounds this node's calls to engines' upstream revocation
	// (an AWS engine deletes an IAM user per call), per second; 0 means 50,
	// rate.Inf no bound. RevokeWorkers is how many run at once; 0 means 8.
	RevokeRate    rate.Limit
	RevokeWorkers int
	// Metrics, when set, counts revocations and upstream calls.
	Metrics *metrics.Metrics
	// ClusterName is reported by sys/health and sys/seal-status.
	ClusterName string
	// APIAddr is where clients reach this node; sys/leader reports it as the
	// active node's address when several nodes may share the database.
	APIAddr string
	// AuditDir is the one directory file audit devices may write in; when
	// empty, only "stdout" and "discard" devices can be enabled.
	AuditDir string
}

// Broker is the core. It is safe for concurrent use; several Brokers (server
// nodes) may share one database.
type Broker struct {
	cfg       Config
	db        *store.DB
	seal      *seal.Seal
	audit     *audit.Log
	tokens    *token.Store
	log       *slog.Logger
	now       func() time.Time
	mounts    *mountTable
	policies  *policyStore
	leases    *leaseStore
	devices   *deviceSet
	clusterID string
	started   time.Time     // when this node became active, for sys/leader
	wake      chan struct{} // nudges the expiry task
	metrics   *metrics.Metrics
	// revokeRate paces upstream revocations; claimHold is how long a claim
	// on a page of leases lasts. A drain claims its next page when it starts
	// settling the last, so a claim must outlast the revocation of two pages
	// at that pace: it lasts three, one to spare (the time of the calls, the
	// record and the delete; less when other drains of this node share the
	// pace).
	revokeRate *rate.Limiter
	claimHold  time.Duration
	// storeCache keeps values engines read on nearly every request
	// (engine.Cacheable).
	storeCache *storageCache

	// core are the route tables of the built-in mounts, by mount type:
	// sys/ ("system") and auth/token/ ("token").
	core map[string]router

	mu      sync.Mutex
	engines map[string]engine.Backend // by mount uuid, path and tuning
}

// New builds a Broker and makes sure the built-in mounts exist.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.RevokeBackoff == 0 {
		cfg.RevokeBackoff = 10 * time.Second
	}
	if cfg.MaxRevokeAttempts == 0 {
		cfg.MaxRevokeAttempts = 6
	}
	if cfg.RevokeRate == 0 {
		cfg.RevokeRate = 50
	}
	if cfg.RevokeWorkers <= 0 {
		cfg.RevokeWorkers = 8
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = "runcred"
	}
	if cfg.AuditDir != "" {
		dir, err := filepath.Abs(cfg.AuditDir)
		if err != nil {
			return nil, fmt.Errorf("broker: audit dir: %w", err)
		}
		cfg.AuditDir = dir
	}
	b := &Broker{
		cfg: cfg, db: cfg.DB, seal: cfg.Seal, audit: cfg.Audit, tokens: cfg.Tokens,
		log: cfg.Logger, now: cfg.Now, engines: map[string]engine.Backend{},
		wake: make(chan struct{}, 1), started: cfg.Now().UTC(), metrics: cfg.Metrics,
		revokeRate: rate.NewLimiter(cfg.RevokeRate, cfg.RevokeWorkers), claimHold: cfg.RevokeBackoff,
	}
	if cfg.RevokeRate != rate.Inf {
		b.claimHold = max(b.claimHold, 3*time.Duration(float64(leasePage)/float64(cfg.RevokeRate)*float64(time.Second)))
	}
	b.core = map[string]router{"system": b.sysRoutes(), "token": b.tokenRoutes()}
	b.mounts = &mountTable{db: cfg.DB, now: cfg.Now, refresh: cfg.Refresh}
	b.policies = &policyStore{db: cfg.DB, now: cfg.Now, refresh: cfg.Refresh}
	b.leases = &leaseStore{db: cfg.DB, seal: cfg.Seal, now: cfg.Now}
	b.storeCache = newStorageCache(cfg.Refresh, cfg.Now)
	b.devices = &deviceSet{dir: cfg.AuditDir, db: cfg.DB, now: cfg.Now, refresh: cfg.Refresh, log: cfg.Logger}
	id, err := cfg.Seal.Secret(ctx, "broker/cluster-id", func() ([]byte, error) { return []byte(randomID()), nil })
	if err != nil {
		return nil, fmt.Errorf("broker: cluster id: %w", err)
	}
	b.clusterID = id.RevealString()
	if err := b.policies.ensureDefault(ctx); err != nil {
		return nil, fmt.Errorf("broker: default policy: %w", err)
	}
	return b, nil
}

// Start runs the expiration task until ctx ends.
func (b *Broker) Start(ctx context.Context) error { return b.expire(ctx) }

// Close releases the audit device files.
func (b *Broker) Close() error { return b.devices.Close() }

// backend returns the engine instance for a mount, building it on first use.
func (b *Broker) backend(ctx context.Context, m *mount) (engine.Backend, error) {
	// The key includes the mount's path and tuning, so a mount moved or tuned
	// on another node gets a fresh engine here once the mount table refreshes.
	key := m.key
	b.mu.Lock()
	defer b.mu.Unlock()
	if be, ok := b.engines[key]; ok {
		return be, nil
	}
	f, ok := b.cfg.Engines[m.Type]
	if !ok {
		return nil, fmt.Errorf("broker: no engine for mount type %q", m.Type)
	}
	be, err := f(ctx, m.engineConfig())
	if err != nil {
		return nil, fmt.Errorf("broker: start %s engine at %s: %w", m.Type, m.Path, err)
	}
	for k := range b.engines { // drop the instance this one replaces
		if strings.HasPrefix(k, m.UUID+"|") {
			delete(b.engines, k)
		}
	}
	b.engines[key] = be
	return be, nil
}

// forget drops a cached engine instance (its mount went away or was tuned).
func (b *Broker) forget(uuid string) {
	b.mu.Lock()
	for k := range b.engines {
		if strings.HasPrefix(k, uuid+"|") {
			delete(b.engines, k)
		}
	}
	b.mu.Unlock()
}

// randomID returns a random UUID-shaped string (Vault's request and mount ids).
func randomID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
