// Package creds is the part of the agent that turns a workspace's variables
// into one run phase's credentials, following HCP Terraform's dynamic
// provider credentials contract (reference/tfc-dynamic-credentials.md §1.8,
// §2): manual workload-identity tokens, AWS, GCP and Azure by direct OIDC
// federation, Vault JWT login, and Vault-backed AWS; and runcred's own
// Vault AppRole login (TFC_VAULT_AUTH_TYPE=approle), whose role and secret
// ID come from two of the workspace's variables.
//
// Prepare mints the tokens, logs in, writes the files into the run directory
// and returns what to add to the phase's environment; Result.Close revokes
// the Vault tokens (and with them every lease read through them) and removes
// the files. The package reads only the variables it is given: never the
// agent's own environment, so ambient AWS_* or VAULT_* settings of the agent
// cannot leak into, or redirect, a run's credentials. It reaches the server
// only over HTTP (the Minter and the Vault API) and imports no server package.
package creds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// Run names the run and phase the credentials are for. The phase ends
// every token's sub and tells a per-phase setting which value to take.
type Run struct {
	ID, Organization, Project, Workspace, WorkspaceID string
	Phase                                             jobapi.Phase
}

// Minter mints a workload-identity token for the run's phase with the given
// audience. The agent implements it over runcred's HTTP API.
type Minter interface {
	Mint(ctx context.Context, audience string) (secret.Value, error)
}

// Config is one phase's input.
type Config struct {
	// Dir is the run directory (exists, 0700); every file goes inside it.
	Dir string
	// Env holds the workspace's env-category variables, TFC_* included.
	Env map[string]string
	// Variables are all the phase's variables, both categories: an AppRole
	// login reads its role and secret ID from two of them.
	Variables []jobapi.Variable
	Run       Run
	Minter    Minter
	// HTTPClient carries the Vault calls; nil is a client with a 60 s
	// timeout. Its transport must be an *http.Transport when a
	// configuration sets TFC_VAULT_ENCODED_CACERT.
	HTTPClient *http.Client
	// Now is the clock for token renewal; nil is time.Now.
	Now func() time.Time
	// After waits (TFC_VAULT_BACKED_AWS_SLEEP_SECONDS, renewal); nil is
	// time.After. Tests make it fire at once.
	After func(time.Duration) <-chan time.Time
	// OnSecret is told every token fetched after Prepare returned (a
	// refreshed token file's), before the token is written anywhere, so the
	// log redactor knows it; nil ignores them.
	OnSecret func(secret.Value)
}

// Result is what a phase gets. Close it when the phase ends, whatever
// happened.
type Result struct {
	// Env is what to add to the phase's environment.
	Env map[string]string
	// Files are the files written, all inside Config.Dir, mode 0600.
	Files []string
	// Secrets is every token and key handed out, for the log redactor.
	Secrets []secret.Value
	// Leases are the Vault lease IDs obtained, for the audit trail.
	Leases []string
	// Withheld are the keys of variables that were for the credentials
	// only (an AppRole's secret ID): the phase must not hand them to
	// OpenTofu, neither in its environment nor as a Terraform variable.
	Withheld []string

	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	tokens   []*vaultToken
	files    []*tokenFile // refreshed before they expire
	minter   Minter
	onSecret func(secret.Value)
	closed   chan struct{}
	mu       sync.Mutex // guards done
	done     bool
}

// Prepare turns cfg's variables into the phase's credentials. Every setting
// is checked before anything is minted or written; on an error nothing is
// left behind (files removed, Vault tokens revoked).
func Prepare(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Run.Phase.Check(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("run directory %q is not an absolute path", cfg.Dir)
	}
	if fi, err := os.Stat(cfg.Dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("run directory %q: not a directory (%v)", cfg.Dir, err)
	}
	g, err := credspec.Parse(cfg.Env, cfg.Run.Phase)
	if err != nil {
		return nil, err
	}
	if cfg.Minter == nil && g.NeedsTokens() {
		return nil, errors.New("credentials are configured but no Minter was given")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	r := &Result{Env: map[string]string{}, now: cfg.Now, after: cfg.After, closed: make(chan struct{}),
		minter: cfg.Minter, onSecret: cfg.OnSecret}
	b := &builder{cfg: cfg, res: r, vault: map[string]*vaultToken{}}
	if err := b.build(ctx, g); err != nil {
		// The caller's context may be what failed; cleanup must still run.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if cerr := r.Close(cleanup); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
		return nil, err
	}
	return r, nil
}

// Close revokes every Vault token (revoke-self, which takes its leases with
// it) and removes every file. It is safe on a nil Result and idempotent: the
// second call does nothing. Files are removed even when a revocation fails.
func (r *Result) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.done = true
	close(r.closed)
	var errs []error
	for _, t := range r.tokens {
		if err := t.revoke(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range r.Files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Start renews the phase's renewable Vault tokens at half their TTL, and
// rewrites its token files with fresh tokens two thirds into their
// lifetime, until ctx ends or Close is called; it returns nil then. It
// returns an error when a token could not be renewed or refreshed before
// it expired: the phase should stop. Run it in its own goroutine, and call
// Close from another.
func (r *Result) Start(ctx context.Context) error {
	for {
		wait, ok := r.nextRenewal()
		var tick <-chan time.Time
		if ok {
			tick = r.after(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.closed:
			return nil
		case <-tick:
			if err := r.renewDue(ctx); err != nil {
				return err
			}
		}
	}
}

// nextRenewal is how long until the earliest token is due; ok is false when
// no token needs renewing.
func (r *Result) nextRenewal() (wait time.Duration, ok bool) {
	now := r.now()
	for _, t := range r.tokens {
		if !t.renewable {
			continue
		}
		d := max(t.due.Sub(now), 0)
		if !ok || d < wait {
			wait, ok = d, true
		}
	}
	for _, f := range r.files {
		d := max(f.due.Sub(now), 0)
		if !ok || d < wait {
			wait, ok = d, true
		}
	}
	return wait, ok
}

// renewDue renews every token that is due. A failed renewal is retried at
// the next tick while the token lives; once it has expired, it is an error.
func (r *Result) renewDue(ctx context.Context) error {
	now := r.now()
	for _, t := range r.tokens {
		if !t.renewable || now.Before(t.due) {
			continue
		}
		if err := t.renew(ctx, now); err != nil {
			if !now.Before(t.expires) {
				return fmt.Errorf("vault token for configuration %q expired unrenewed: %w", t.conf.Tag, err)
			}
			// Try again halfway to expiry (at least a second from now).
			t.due = now.Add(max(t.expires.Sub(now)/2, time.Second))
		}
	}
	for _, f := range r.files {
		if now.Before(f.due) {
			continue
		}
		if err := r.refresh(ctx, f, now); err != nil {
			if !now.Before(f.expires) {
				return fmt.Errorf("the workload identity token of %s expired unrefreshed: %w", f.by, err)
			}
			f.due = now.Add(max(f.expires.Sub(now)/2, time.Second))
		}
	}
	return nil
}
