package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/peers/tools"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"
)

// TestDevStopDuringApply: Ctrl-C to `runcred dev` while its agent applies
// interrupts OpenTofu, and the state the interrupted apply left is stored
// before the server stops; after a restart the run is errored and the
// created resources are in the workspace's state.
func TestDevStopDuringApply(t *testing.T) {
	t.Parallel()
	tofu, mirror := tools.OpenTofu(t)
	dir := filepath.Join(t.TempDir(), "dev")
	addr := freeAddr(t)
	env := []string{"RUNCRED_LISTEN_ADDR=" + addr}
	work := t.TempDir()
	args := []string{"dev", "--data-dir", dir, "--tofu", tofu, "--provider-mirror", mirror, "--work-dir", work}
	dev := startServer(t, addr, env, args...)
	c, err := tfe.NewClient(&tfe.Config{Address: dev.url, Token: readToken(t, filepath.Join(dir, "root-token")), RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws, run := slowApply(ctx, t, c, "slow", "120s")
	for !applyStarted(t, work) {
		if r, err := c.Runs.Read(ctx, run.ID); err != nil || r.Status == tfe.RunErrored {
			t.Fatalf("run = %v, %v\n%s", r, err, dev.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	dev.stop(t)

	startServer(t, addr, env, append(args, "--no-agent")...)
	r, err := c.Runs.Read(ctx, run.ID)
	if err != nil || r.Status != tfe.RunErrored {
		t.Fatalf("after Ctrl-C the run is %v, %v; want errored", r.Status, err)
	}
	sv, err := c.StateVersions.ReadCurrent(ctx, ws.ID)
	if err != nil {
		t.Fatalf("no state after the interrupted apply: %v", err)
	}
	state, err := c.StateVersions.Download(ctx, sv.DownloadURL)
	if err != nil || !strings.Contains(string(state), `"random_id"`) {
		t.Fatalf("state = %s, %v", state, err)
	}
}

// TestAgentOutlivesServerRestart: a standalone `runcred agent` whose server
// is down when an apply ends keeps the state and its last report, retries,
// and delivers both once the server is back: the run ends applied with
// its state.
func TestAgentOutlivesServerRestart(t *testing.T) {
	t.Parallel()
	tofu, mirror := tools.OpenTofu(t)
	dir := filepath.Join(t.TempDir(), "dev")
	addr := freeAddr(t)
	env := []string{"RUNCRED_LISTEN_ADDR=" + addr}
	args := []string{"dev", "--data-dir", dir, "--no-agent"}
	dev := startServer(t, addr, env, args...)
	rootTok := readToken(t, filepath.Join(dir, "root-token"))
	v, err := vault.NewClient(&vault.Config{Address: dev.url})
	if err != nil {
		t.Fatal(err)
	}
	v.SetToken(rootTok)
	sec, err := v.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"runcred-agent-default"}})
	if err != nil {
		t.Fatal(err)
	}
	agentDir := t.TempDir()
	agent := spawn(t, addr, []string{"RUNCRED_AGENT_TOKEN=" + sec.Auth.ClientToken},
		"agent", "--addr", dev.url, "--tofu", tofu, "--provider-mirror", mirror, "--work-dir", agentDir)

	c, err := tfe.NewClient(&tfe.Config{Address: dev.url, Token: rootTok, RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws, run := slowApply(ctx, t, c, "restart", "3s")
	agentUntil(ctx, t, agent, "the apply started", func() bool { return applyStarted(t, agentDir) })
	dev.stop(t) // the apply ends (3 s) while the server is down
	// The server comes back only once the agent has failed to store the
	// state and said it retries (for half a minute).
	agentUntil(ctx, t, agent, "the agent retried storing the state", func() bool {
		return strings.Contains(agent.stderr.String(), "storing the state; retrying")
	})
	startServer(t, addr, env, args...)
	for {
		r, err := c.Runs.Read(ctx, run.ID)
		if err == nil && r.Status == tfe.RunApplied {
			break
		}
		if err == nil && (r.Status == tfe.RunErrored || r.Status == tfe.RunCanceled) {
			t.Fatalf("run ended %s:\n%s", r.Status, agent.stderr.String())
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run still %v, %v:\n%s", r, err, agent.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	sv, err := c.StateVersions.ReadCurrent(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if state, err := c.StateVersions.Download(ctx, sv.DownloadURL); err != nil || !strings.Contains(string(state), `"time_sleep"`) {
		t.Fatalf("state = %s, %v", state, err)
	}
	if !strings.Contains(agent.stderr.String(), "retrying") {
		t.Errorf("the agent never had to retry, so the test proved nothing:\n%s", agent.stderr.String())
	}
}

// agentUntil polls cond until it holds; the agent exiting or ctx ending
// first fails t.
func agentUntil(ctx context.Context, t *testing.T, agent *server, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-agent.done:
			t.Fatalf("the agent exited before %s:\n%s", what, agent.stderr.String())
		case <-ctx.Done():
			t.Fatalf("not seen: %s:\n%s", what, agent.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// slowApply starts an auto-apply run in a new workspace of a fresh org
// demo on the server c talks to: it creates resources, touches applyMarker in its run directory,
// then sleeps for sleep.
func slowApply(ctx context.Context, t *testing.T, c *tfe.Client, name, sleep string) (*tfe.Workspace, *tfe.Run) {
	t.Helper()
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("demo"), Email: tfe.String("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "demo", tfe.WorkspaceCreateOptions{Name: tfe.String(name), AutoApply: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "main.tf"), []byte(`
resource "random_id" "a" { byte_length = 4 }
resource "terraform_data" "m" {
  depends_on = [random_id.a]
  provisioner "local-exec" { command = "touch `+applyMarker+`" }
}
resource "time_sleep" "w" {
  create_duration = "`+sleep+`"
  depends_on      = [terraform_data.m]
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, cfgDir); err != nil {
		t.Fatal(err)
	}
	run, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	return ws, run
}

// applyMarker is the file slowApply's configuration creates, in its run
// directory (the sandbox lets a run write nowhere else), once the apply has
// created its first resource.
const applyMarker = "runcred-test-apply-started"

// applyStarted reports whether a run directory under work holds applyMarker.
func applyStarted(t *testing.T, work string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // a run directory removed under the walk
		}
		if d.Name() == applyMarker {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
