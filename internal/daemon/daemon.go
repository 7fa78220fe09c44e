// Package daemon is the only place runcred's parts are wired together: it
// opens the store, unseals, starts the audit log and the issuer, mounts every
// HTTP handler on one listener, and owns the background tasks.
package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/metrics"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/rotation"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/token"
)

// Config is everything a runcred server needs.
type Config struct {
	Addr          string // listen address, host:port (port 0 picks one)
	PublicURL     string // issuer URL; default http://<listen address>
	Database      string // SQLite path or postgres:// URL
	RootKeyFile   string // the seal's root key
	RootTokenFile string // where the initial root token is written, if set
	AuditDir      string // the only directory file audit devices may write in
	// TLSCertFile and TLSKeyFile, when set, make the listener serve HTTPS
	// (TLS 1.2 and later) with this PEM certificate chain and key; both are
	// re-read when they change.
	TLSCertFile, TLSKeyFile string
	// DevRootToken makes a fresh root token whenever RootTokenFile does not
	// hold a valid one (runcred dev); otherwise one is made only on first start.
	DevRootToken bool
	Identity     identity.Policy
	TokenTTL     time.Duration // default lifetime of minted tokens
	// PhaseTokenTTL is the lifetime of a run phase's workload-identity
	// tokens (the agent fetches fresh ones while the phase runs); 0 is 15m.
	PhaseTokenTTL time.Duration
	Refresh       time.Duration // how often nodes re-read shared state
	// RevokeBackoff is the base delay before a failed lease revocation is
	// retried (doubling per attempt); Vault's 10s when zero.
	RevokeBackoff time.Duration
	// Limits bound what HTTP clients may hold of the server (time, body
	// bytes); zero fields take DefaultLimits'.
	Limits Limits
	// UnauthenticatedMetrics serves /metrics to anyone; otherwise it needs
	// a token that may read sys/metrics (Vault's unauthenticated_metrics_access).
	UnauthenticatedMetrics bool
	// Policy bounds policy-set evaluation (time limit, memory); zero
	// fields take internal/policy's defaults.
	Policy policy.Options
	// RotationClaim is how long a node holds a mount rotation it works on
	// before another node, or this one restarted, may resume it; 0 is 30s.
	RotationClaim time.Duration
	// RotationAfterStep, when set, is called after each step of a mount
	// rotation is journaled; an error stops the rotation there as a crash
	// would (tests).
	RotationAfterStep func(rotation.Rotation) error
	Logger            *slog.Logger
	Now               func() time.Time
}

// Validate checks the parts of the configuration that need no I/O.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("listen address is required"))
	}
	if c.Database == "" {
		errs = append(errs, errors.New("database is required (a SQLite file path or a postgres:// URL)"))
	}
	if c.RootKeyFile == "" {
		errs = append(errs, errors.New("root key file is required (RUNCRED_ROOT_KEY_FILE)"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS needs both a certificate file and a key file"))
	}
	if c.PublicURL != "" && strings.HasSuffix(c.PublicURL, "/") {
		errs = append(errs, fmt.Errorf("public URL %q must not end with a slash", c.PublicURL))
	}
	if c.PhaseTokenTTL < 0 || c.PhaseTokenTTL%time.Second != 0 {
		errs = append(errs, fmt.Errorf("phase token TTL %s must be a whole number of seconds", c.PhaseTokenTTL))
	}
	if limit := c.Identity.MaxTokenTTL; limit > 0 && c.PhaseTokenTTL > limit {
		errs = append(errs, fmt.Errorf("phase token TTL %s exceeds the maximum token lifetime %s", c.PhaseTokenTTL, limit))
	}
	return errors.Join(errs...)
}

// Daemon is a running runcred server.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	listener net.Listener
	http     *http.Server
	cert     *certificate // nil: plain HTTP
	db       *store.DB
	Issuer   *identity.Issuer
	Audit    *audit.Log
	Tokens   *token.Store
	Seal     *seal.Seal
	Broker   *broker.Broker
	Platform *platform.Service
	// Rotations rotates secrets mounts' paths (runs, resumes, schedules).
	Rotations *rotation.Service
	bodies    *budget // request body bytes in flight
	metrics   *metrics.Metrics
	top, mux  *http.ServeMux // the routes, for the access log's templates

	wg       sync.WaitGroup
	cancel   context.CancelFunc
	errs     chan error
	closeMu  sync.Once
	stopping chan struct{} // closed when Close begins: long polls answer at once
}

// New builds a daemon and binds its listener; nothing is served until Start.
// A wrong root key fails here, before anything is written.
func New(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Identity == (identity.Policy{}) {
		cfg.Identity = identity.DefaultPolicy()
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 5 * time.Second
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, errs: make(chan error, 4), stopping: make(chan struct{})}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	// Bind first: a bad or busy address fails before anything is created.
	if d.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLSCertFile != "" {
		if d.cert, err = loadCertificate(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.Logger, cfg.Now); err != nil {
			return nil, err
		}
	}
	root, err := seal.LoadRootKey(cfg.RootKeyFile)
	if err != nil {
		return nil, err
	}
	if d.db, err = store.Open(ctx, cfg.Database); err != nil {
		return nil, err
	}
	if d.Seal, err = seal.Open(ctx, d.db, root); err != nil {
		return nil, err
	}
	hmacKey, err := d.Seal.Secret(ctx, "audit/hmac-key", randomBytes(32))
	if err != nil {
		return nil, err
	}
	d.Audit = audit.New(d.db, hmacKey, cfg.Now)
	d.metrics = d.newMetrics()
	d.Audit.Observe(d.metrics.AuditAppend)
	d.Tokens = token.NewStore(d.db, cfg.Now).Cached(cfg.Refresh)

	if cfg.PublicURL == "" {
		cfg.PublicURL = d.URL()
		d.cfg.PublicURL = cfg.PublicURL
	}
	engines, err := d.engines(ctx)
	if err != nil {
		return nil, err
	}
	d.Broker, err = broker.New(ctx, broker.Config{
		DB: d.db, Seal: d.Seal, Audit: d.Audit, Tokens: d.Tokens, Engines: engines,
		Logger: cfg.Logger, Now: cfg.Now, Refresh: cfg.Refresh, RevokeBackoff: cfg.RevokeBackoff, AuditDir: cfg.AuditDir,
		APIAddr: cfg.PublicURL, Metrics: d.metrics,
	})
	if err != nil {
		return nil, err
	}
	d.Issuer, err = identity.New(ctx, identity.Config{
		Issuer: cfg.PublicURL, Policy: cfg.Identity, DefaultTokenTTL: cfg.TokenTTL,
		RefreshInterval: cfg.Refresh, Now: cfg.Now, Logger: cfg.Logger,
	}, d.db, d.Seal, d.Audit, d.Broker)
	if err != nil {
		return nil, err
	}
	// The key of the HMACs of variable values that policies compare: one
	// per installation, apart from the audit log's.
	policyKey, err := d.Seal.Secret(ctx, "policy/hmac-key", randomBytes(32))
	if err != nil {
		return nil, err
	}
	d.Platform = platform.New(platform.Config{DB: d.db, Seal: d.Seal, Audit: d.Audit, Authz: d.Broker, Now: cfg.Now,
		Tokens: platformTokens{b: d.Broker, now: cfg.Now}, Mint: d.Issuer,
		PhaseTokenTTL: cfg.PhaseTokenTTL, BrokerAddresses: []string{cfg.PublicURL, d.URL()},
		PolicyEngine: policy.New(cfg.Policy), PolicyKey: policyKey})
	if err := d.Platform.Runs.EnsurePolicies(ctx); err != nil {
		return nil, fmt.Errorf("installing the platform's policies: %w", err)
	}
	// Teams' policies are compiled from their grants; one from before
	// grants (or from an older mapping) is rewritten now.
	if err := d.Platform.Teams.RecompileAll(ctx); err != nil {
		return nil, fmt.Errorf("compiling the teams' policies: %w", err)
	}
	d.Rotations = rotation.New(rotation.Config{DB: d.db, Audit: d.Audit, Authz: d.Broker, Broker: d.Broker,
		Variables: d.Platform.Variables, Runs: runQueue{d.Platform.Runs}, Replace: broker.ReplaceMountName,
		Logger: cfg.Logger, Now: cfg.Now, AfterStep: cfg.RotationAfterStep, Claim: cfg.RotationClaim})
	if err := d.ensureRootToken(ctx); err != nil {
		return nil, err
	}
	// No server-wide ReadTimeout or WriteTimeout: limited sets both per
	// request, as rates, so uploads and long polls fit and slow clients
	// do not.
	lim := cfg.Limits.withDefaults()
	d.bodies = newBudget(lim.BodyBudget)
	d.http = &http.Server{
		Handler: d.observe(limited(lim, d.bodies, d.routes())), ReadHeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	if d.cert != nil {
		d.http.TLSConfig = d.cert.tlsConfig()
	}
	return d, nil
}

// URL is the address the daemon serves on.
func (d *Daemon) URL() string {
	if d.cert != nil {
		return "https://" + d.listener.Addr().String()
	}
	return "http://" + d.listener.Addr().String()
}

// PublicURL is the issuer URL.
func (d *Daemon) PublicURL() string { return d.cfg.PublicURL }

// DB is the daemon's store (tests inspect it).
func (d *Daemon) DB() *store.DB { return d.db }

// Start serves HTTP and runs background tasks until ctx ends or one of them
// fails; it returns the first failure. Close stops everything.
func (d *Daemon) Start(ctx context.Context) error {
	tasks, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	d.goTask(tasks, "http", func(context.Context) error {
		serve := func() error { return d.http.Serve(d.listener) }
		if d.cert != nil {
			// The certificate comes from TLSConfig.GetCertificate. A plain
			// HTTP request on this port gets net/http's 400 "Client sent an
			// HTTP request to an HTTPS server".
			serve = func() error { return d.http.ServeTLS(d.listener, "", "") }
		}
		if err := serve(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	d.goTask(tasks, "identity", func(ctx context.Context) error { return d.Issuer.Start(ctx) })
	d.goTask(tasks, "broker-expiry", func(ctx context.Context) error { return d.Broker.Start(ctx) })
	d.goTask(tasks, "abandoned-phases", d.abandonStalePhases)
	d.goTask(tasks, "mount-rotations", d.Rotations.Start)
	select {
	case <-ctx.Done():
		return nil
	case err := <-d.errs:
		return err
	}
}

// goTask runs a supervised background task; its error stops the daemon.
func (d *Daemon) goTask(ctx context.Context, name string, fn func(context.Context) error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := fn(ctx); err != nil {
			select {
			case d.errs <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// Close stops serving (letting requests in flight finish), stops background
// tasks and closes the store.
func (d *Daemon) Close() error {
	d.closeMu.Do(func() {
		close(d.stopping)
		if d.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = d.http.Shutdown(ctx)
			cancel()
		} else if d.listener != nil {
			d.listener.Close()
		}
		if d.cancel != nil {
			d.cancel()
		}
		d.wg.Wait()
		if d.Broker != nil {
			d.Broker.Close()
		}
		if d.db != nil {
			d.db.Close()
		}
	})
	return nil
}

func randomBytes(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		_, err := rand.Read(b)
		return b, err
	}
}

// ensureRootToken writes an initial root token to RootTokenFile. On first
// start of a server (no tokens at all) one is made; in dev mode a new one is
// made whenever the file does not hold a valid token.
func (d *Daemon) ensureRootToken(ctx context.Context) error {
	path := d.cfg.RootTokenFile
	if path == "" {
		return nil
	}
	if b, err := os.ReadFile(path); err == nil {
		if _, err := d.Tokens.Lookup(ctx, tokenFromFile(b)); err == nil {
			return nil
		}
		if !d.cfg.DevRootToken {
			return fmt.Errorf("root token file %s holds no valid token; remove it to have runcred make one on an empty database", path)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !d.cfg.DevRootToken {
		empty, err := d.Tokens.Empty(ctx)
		if err != nil || !empty {
			return err
		}
	}
	tok, e, err := d.Tokens.Create(ctx, token.Entry{Policies: []string{"root"}, DisplayName: "root"})
	if err != nil {
		return err
	}
	if _, err := d.Audit.Append(ctx, "token.create", map[string]any{"accessor": e.Accessor, "policies": e.Policies, "display_name": "root", "token": d.Audit.HMAC(tok)}); err != nil {
		return err
	}
	if err := writeFileAtomic(path, []byte(tok.RevealString()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write root token: %w", err)
	}
	d.log.Info("wrote root token", "file", path, "accessor", e.Accessor)
	return nil
}

func tokenFromFile(b []byte) secret.Value { return secret.FromString(strings.TrimSpace(string(b))) }

// writeFileAtomic writes through a temporary file so a reader never sees half a secret.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// abandonStalePhases errors runs whose agent stopped reporting, once a
// minute, so they do not hold their workspace for good.
func (d *Daemon) abandonStalePhases(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := d.Platform.Runs.AbandonStalePhases(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("ending abandoned phases", "err", err)
		} else if n > 0 {
			d.log.Warn("ended abandoned phases", "runs", n)
		}
		if _, err := d.Platform.Runs.RevokeEndedPhaseTokens(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("revoking the tokens of ended phases", "err", err)
		}
		if n, err := d.Platform.Runs.AbandonStaleChecks(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("ending abandoned policy checks", "err", err)
		} else if n > 0 {
			d.log.Warn("ended abandoned policy checks", "runs", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runQueue queues the runs a mount rotation starts in the workspaces that
// consume the mount, through the run service.
type runQueue struct{ runs *run.Service }

func (q runQueue) Queue(ctx context.Context, workspaceID, message string) (string, error) {
	r, err := q.runs.Create(ctx, workspaceID, run.Options{Message: &message})
	return r.ID, err
}

func (q runQueue) Pending(ctx context.Context, runID string) (bool, error) {
	r, err := q.runs.Run(ctx, runID)
	return r.Status == run.Pending, err
}
