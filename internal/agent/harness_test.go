package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/secret"
)

// world is a runcred server started in-process, a go-tfe client with its
// root token, and an agent running its jobs with the real OpenTofu.
type world struct {
	srv       *daemontest.Server
	tfe       *tfe.Client
	org       string
	serverLog *syncBuffer
	hooks     string // the agent's hooks directory
	workRoot  string // where the agent makes run directories
	agentTok  string // the agent's token
}

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newWorld starts the server and an agent; hooks maps hook names to
// scripts for the agent's hooks directory.
func newWorld(t *testing.T, hooks map[string]string, tweak func(*agent.Config)) *world {
	t.Helper()
	return newWorldWith(t, hooks, nil, tweak)
}

// newWorldOn is newWorld on database url ("" for the daemon's own SQLite).
func newWorldOn(t *testing.T, url string, hooks map[string]string, tweak func(*agent.Config)) *world {
	t.Helper()
	return newWorldWith(t, hooks, func(c *daemon.Config) {
		if url != "" {
			c.Database = url
		}
	}, tweak)
}

// newWorldWith is newWorld whose server's settings server changes.
func newWorldWith(t *testing.T, hooks map[string]string, server func(*daemon.Config), tweak func(*agent.Config)) *world {
	t.Helper()
	w := &world{org: "demo", serverLog: &syncBuffer{}, hooks: t.TempDir(), workRoot: t.TempDir()}
	// Registered first, so it runs once every agent of the world has
	// stopped (each holds a run directory while it waits for a job).
	t.Cleanup(func() {
		if ents, _ := os.ReadDir(w.workRoot); len(ents) != 0 {
			t.Errorf("run directories left behind: %v", ents)
		}
	})
	w.srv = daemontest.Start(t, func(c *daemon.Config) {
		c.Logger = slog.New(slog.NewTextHandler(w.serverLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if server != nil {
			server(c)
		}
	})
	c, err := tfe.NewClient(&tfe.Config{Address: w.srv.D.URL(), Token: w.srv.Token, RetryServerErrors: false, HTTPClient: w.srv.HTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	w.tfe = c
	ctx := ctxT(t)
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(w.org), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	// Hooks run in the sandbox, as the runs' user when the agent is root.
	if err := os.Chmod(w.hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range hooks {
		if err := os.WriteFile(filepath.Join(w.hooks, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := w.srv.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w.agentTok = tok.RevealString()
	startAgent(t, w, func(c *agent.Config) {
		c.Token = tok
		// As in runcred dev, the agent's process holds the root token.
		c.Secrets = []secret.Value{secretOf(w.srv.Token)}
		if tweak != nil {
			tweak(c)
		}
	})
	return w
}

// startAgent runs an agent of w's server until the test ends (newWorldWith
// then checks no run directory was left behind); tweak sets its token and
// pool.
func startAgent(t *testing.T, w *world, tweak func(*agent.Config)) {
	t.Helper()
	bin, mirror := tools.OpenTofu(t)
	cfg := agent.Config{
		Server: w.srv.D.URL(), Binary: bin, ProviderMirror: mirror, HooksDir: w.hooks, WorkDir: w.workRoot,
		Poll: 50 * time.Millisecond, Watch: 200 * time.Millisecond, Flush: 50 * time.Millisecond, Concurrency: 4,
	}
	tweak(&cfg)
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
}

func secretOf(s string) secret.Value { return secret.FromString(s) }

// workspace creates a workspace with variables; a key starting with "env:"
// is an environment variable, one ending in "!" is sensitive, "hcl:" HCL.
func (w *world) workspace(t *testing.T, name string, autoApply bool, vars map[string]string) *tfe.Workspace {
	t.Helper()
	ctx := ctxT(t)
	ws, err := w.tfe.Workspaces.Create(ctx, w.org, tfe.WorkspaceCreateOptions{Name: tfe.String(name), AutoApply: tfe.Bool(autoApply)})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vars {
		opts := tfe.VariableCreateOptions{Category: tfe.Category(tfe.CategoryTerraform), Value: tfe.String(v)}
		if s, ok := strings.CutPrefix(k, "env:"); ok {
			k, opts.Category = s, tfe.Category(tfe.CategoryEnv)
		}
		if s, ok := strings.CutPrefix(k, "hcl:"); ok {
			k, opts.HCL = s, tfe.Bool(true)
		}
		if s, ok := strings.CutSuffix(k, "!"); ok {
			k, opts.Sensitive = s, tfe.Bool(true)
		}
		opts.Key = tfe.String(k)
		if _, err := w.tfe.Variables.Create(ctx, ws.ID, opts); err != nil {
			t.Fatalf("variable %s: %v", k, err)
		}
	}
	return ws
}

// upload makes a configuration version of files.
func (w *world) upload(t *testing.T, ws *tfe.Workspace, files map[string]string) *tfe.ConfigurationVersion {
	t.Helper()
	ctx := ctxT(t)
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cv, err := w.tfe.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.tfe.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		t.Fatal(err)
	}
	return cv
}

// start creates a run of the workspace's latest configuration.
func (w *world) start(t *testing.T, ws *tfe.Workspace) *tfe.Run {
	t.Helper()
	r, err := w.tfe.Runs.Create(ctxT(t), tfe.RunCreateOptions{Workspace: ws, Message: tfe.String("test")})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var terminal = map[tfe.RunStatus]bool{
	tfe.RunApplied: true, tfe.RunErrored: true, tfe.RunCanceled: true, tfe.RunDiscarded: true,
	tfe.RunPlannedAndFinished: true, tfe.RunPlanned: true,
}

// wait polls run id until it reaches a resting status, and checks it is want.
func (w *world) wait(t *testing.T, id string, want tfe.RunStatus) *tfe.Run {
	t.Helper()
	r, err := w.await(t, id, want)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// await is wait returning its failure: it never stops the test, so a
// test's goroutines may call it.
func (w *world) await(t *testing.T, id string, want tfe.RunStatus) (*tfe.Run, error) {
	ctx := ctxT(t)
	for {
		r, err := w.tfe.Runs.Read(ctx, id)
		if err != nil {
			return nil, err
		}
		if terminal[r.Status] {
			if r.Status != want {
				return nil, fmt.Errorf("run %s ended %s, want %s\nlog:\n%s", id, r.Status, want, w.logs(t, r))
			}
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("run %s still %s", id, r.Status)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logs is the plan log and, if the run got to it, the apply log.
func (w *world) logs(t *testing.T, r *tfe.Run) string {
	t.Helper()
	ctx := ctxT(t)
	var out strings.Builder
	if rd, err := w.tfe.Plans.Logs(ctx, r.Plan.ID); err == nil {
		b, _ := io.ReadAll(rd)
		out.Write(b)
	}
	if r.Apply != nil {
		if a, err := w.tfe.Applies.Read(ctx, r.Apply.ID); err == nil && a.Status != tfe.ApplyUnreachable && a.Status != tfe.ApplyPending {
			if rd, err := w.tfe.Applies.Logs(ctx, r.Apply.ID); err == nil {
				b, _ := io.ReadAll(rd)
				out.Write(b)
			}
		}
	}
	return out.String()
}

// state is the workspace's current state.
func (w *world) state(t *testing.T, ws *tfe.Workspace) []byte {
	t.Helper()
	ctx := ctxT(t)
	sv, err := w.tfe.StateVersions.ReadCurrent(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.tfe.StateVersions.Download(ctx, sv.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runDir is the working directory of the phase the agent is running, as
// the host sees it, or "" when there is none. A sandboxed run sees nothing
// of the host outside its run directory, so a test and a run's code meet
// there: the run writes a marker in its working directory, the test a file
// the run waits for.
func (w *world) runDir(t *testing.T) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(w.workRoot, "runcred-run-*", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) > 1 {
		t.Fatalf("several phases running: %v", m)
	}
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// inRun reports whether the running phase's working directory has name.
func (w *world) inRun(t *testing.T, name string) bool {
	t.Helper()
	d := w.runDir(t)
	if d == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(d, name))
	return err == nil
}
