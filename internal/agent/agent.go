// Package agent runs the jobs of a runcred server: it claims a run phase
// with its agent token, and for each one, in a fresh run directory (0700),
// unpacks the configuration, gives the phase exactly the credentials its
// variables ask for (internal/agent/creds), runs hooks and OpenTofu
// (internal/agent/phase), in a sandbox unless IsolationNone is asked for,
// with the log streamed, redacted, to the server,
// stores what the phase produced, and then revokes the credentials and
// removes the directory, whatever happened before. A crash of the agent
// leaves leases that the server's expiry revokes.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// Config is an agent's.
type Config struct {
	Server string       // runcred's base URL
	Token  secret.Value // the agent token
	Pool   string       // agent pool id; "" serves workspaces without one

	Binary         string // absolute path of tofu (or terraform)
	HooksDir       string // terraform-pre-plan etc.; "" for none
	ProviderMirror string // filesystem provider mirror; "" for the registries
	WorkDir        string // where run directories are made; "" for the system's temp dir

	HTTPClient   *http.Client // to runcred; nil: 60 s timeout
	VaultClient  *http.Client // to Vault brokers; nil: creds' default
	Logger       *slog.Logger
	Concurrency  int           // phases run at once; 0: 1
	Wait         time.Duration // how long a claim waits on the server for a job; 0: 20 s
	Poll         time.Duration // pause after a failed or unanswered claim; 0: 1 s
	Watch        time.Duration // between cancellation checks; 0: 2 s
	Flush        time.Duration // between log uploads; 0: 250 ms
	PhaseTimeout time.Duration // 0: 2 h, HCP Terraform's default

	// Isolation isolates phases from the host; "": IsolationSandbox.
	Isolation Isolation
	Bwrap     string // bubblewrap; "": bwrap on PATH
	// RunUID and RunGID run the phases' processes when the agent is root;
	// 0: 65534 (nobody).
	RunUID, RunGID int
	// Secrets are tokens the agent's process holds besides its own (in
	// runcred dev, the server's root token): every log masks them.
	Secrets []secret.Value
}

// Agent claims and runs jobs.
type Agent struct {
	cfg    Config
	box    *phase.Sandbox // nil: IsolationNone
	client *jobapi.Client
	log    *slog.Logger
}

// New checks cfg and returns an agent.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Server == "":
		return nil, errors.New("agent: no server URL")
	case cfg.Token.Empty():
		return nil, errors.New("agent: no agent token")
	case !filepath.IsAbs(cfg.Binary):
		return nil, fmt.Errorf("agent: the OpenTofu binary %q is not an absolute path", cfg.Binary)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Wait <= 0 {
		cfg.Wait = 20 * time.Second
	}
	cfg.Wait = min(cfg.Wait, jobapi.MaxWait)
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.HTTPClient.Timeout != 0 && cfg.HTTPClient.Timeout <= cfg.Wait {
		return nil, fmt.Errorf("agent: the HTTP client's timeout %s must exceed the claim wait %s", cfg.HTTPClient.Timeout, cfg.Wait)
	}
	if cfg.Watch <= 0 {
		cfg.Watch = 2 * time.Second
	}
	if cfg.Flush <= 0 {
		cfg.Flush = 250 * time.Millisecond
	}
	if cfg.PhaseTimeout <= 0 {
		cfg.PhaseTimeout = 2 * time.Hour
	}
	box, err := sandbox(cfg)
	if err != nil {
		return nil, err
	}
	if box == nil {
		cfg.Logger.Warn(noneWarning)
	}
	return &Agent{cfg: cfg, box: box, client: &jobapi.Client{Server: cfg.Server, HTTP: cfg.HTTPClient}, log: cfg.Logger}, nil
}

// Run claims and runs jobs until ctx ends, then waits for the phases in
// progress (which ctx's end cancels) to clean up.
func (a *Agent) Run(ctx context.Context) error {
	slots := make(chan struct{}, a.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		asked := time.Now()
		job, err := a.client.Claim(ctx, a.cfg.Token, a.cfg.Pool, a.cfg.Wait)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("claiming a job", "err", err)
		}
		if job == nil {
			<-slots
			// The server waits for a job before it answers; pause only
			// after an error or an answer that came at once, so an agent
			// never spins.
			if err == nil && time.Since(asked) >= a.cfg.Poll {
				continue
			}
			select {
			case <-time.After(a.cfg.Poll):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			a.Do(ctx, job)
		}()
	}
}

// RunOnce claims one job and runs it; it reports whether there was one.
func (a *Agent) RunOnce(ctx context.Context) (bool, error) {
	job, err := a.client.Claim(ctx, a.cfg.Token, a.cfg.Pool, 0)
	if err != nil || job == nil {
		return false, err
	}
	a.Do(ctx, job)
	return true, nil
}
