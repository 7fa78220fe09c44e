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
	"os"
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
//
// The agent holds a sandbox started ahead for its next job (phase.Standby),
// in a fresh run directory, so that a phase does not wait for its sandbox
// to start: it starts the next one as soon as it hands one to a job. One
// unused for standbyMaxAge is replaced, so that the files of /etc it
// copied stay current.
func (a *Agent) Run(ctx context.Context) error {
	slots := make(chan struct{}, a.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	var spare *standby
	defer func() { spare.close(a) }()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if spare != nil && time.Since(spare.made) > standbyMaxAge {
			spare.close(a)
			spare = nil
		}
		if spare == nil {
			spare = a.newStandby()
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
		st := spare
		// The next job's, started now: runs queued one after another find
		// it ready.
		spare = a.newStandby()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			a.do(ctx, job, st)
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

// standbyMaxAge bounds how long a standby sandbox waits for a job.
const standbyMaxAge = 5 * time.Minute

// standby is a sandbox started ahead of a job, in its run directory. It
// starts in the background: a job claimed meanwhile waits for it only
// when its phase is about to run.
type standby struct {
	dir   string
	made  time.Time
	ready chan struct{}  // closed once st is set, or failed to start
	st    *phase.Standby // nil if it could not start
}

// newStandby makes a fresh run directory and starts a standby sandbox in
// it; nil without a sandbox, or if the directory cannot be made. A
// sandbox that cannot start leaves the phase to start its own (and to
// say why, if it cannot either).
func (a *Agent) newStandby() *standby {
	if a.box == nil {
		return nil
	}
	dir, err := os.MkdirTemp(a.cfg.WorkDir, "runcred-run-")
	if err == nil {
		err = os.Chmod(dir, 0o700)
	}
	if err != nil {
		a.log.Warn("making a run directory ahead of the next job", "err", err)
		if dir != "" {
			_ = phase.RemoveDir(dir)
		}
		return nil
	}
	s := &standby{dir: dir, made: time.Now(), ready: make(chan struct{})}
	go func() {
		defer close(s.ready)
		st, err := a.box.NewStandby(dir, a.cfg.Binary, a.cfg.ProviderMirror)
		if err != nil {
			a.log.Warn("starting a sandbox ahead of the next job", "err", err)
			return
		}
		s.st = st
	}()
	return s
}

// phase is the phase's standby sandbox, once started; nil for none.
func (s *standby) phase() *phase.Standby {
	if s == nil {
		return nil
	}
	<-s.ready
	return s.st
}

// close ends the standby, used or not, and removes its run directory.
func (s *standby) close(a *Agent) {
	if s == nil {
		return
	}
	if st := s.phase(); st != nil {
		st.Close()
	}
	if err := phase.RemoveDir(s.dir); err != nil {
		a.log.Error("removing the run directory", "dir", s.dir, "err", err)
	}
}
