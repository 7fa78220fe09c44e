package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/peers/tools"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
)

// slowApply creates two resources, touches "created" in its working
// directory, then sleeps a minute.
func slowApply() string {
	return `
resource "random_id" "a" { byte_length = 4 }
resource "terraform_data" "m" {
  depends_on = [random_id.a]
  provisioner "local-exec" { command = "touch created" }
}
resource "time_sleep" "w" {
  create_duration = "60s"
  depends_on      = [terraform_data.m]
}
`
}

// waitCreated waits until the apply of run id has created its first
// resources (the marker exists) and is still applying.
func waitCreated(t *testing.T, w *world, id string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		r, err := w.tfe.Runs.Read(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.inRun(t, "created") && r.Status == tfe.RunApplying {
			return
		}
		if terminal[r.Status] && r.Status != tfe.RunPlanned {
			t.Fatalf("run ended %s", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stateHas waits for the workspace's current state to name want.
func stateHas(t *testing.T, w *world, ws *tfe.Workspace, want ...string) {
	t.Helper()
	state := string(w.state(t, ws))
	for _, s := range want {
		if !strings.Contains(state, s) {
			t.Fatalf("state lacks %s:\n%s", s, state)
		}
	}
}

// TestCancelDuringApplyKeepsState: canceling a run while it applies
// interrupts OpenTofu; what it created is in the state the agent stores
// before it ends the run canceled, and the next run starts from it.
func TestCancelDuringApplyKeepsState(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "cancelapply", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": slowApply()})
	run := w.start(t, ws)
	waitCreated(t, w, run.ID)
	if err := w.tfe.Runs.Cancel(ctx, run.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunCanceled)
	if log := w.logs(t, run); !strings.Contains(log, "Canceled by request") {
		t.Errorf("apply log:\n%s", log)
	}
	stateHas(t, w, ws, `"random_id"`, `"terraform_data"`)
}

// TestAgentStopDuringApplyKeepsState: an agent stopped while it applies
// still stores the state the interrupted apply left, and ends the run
// errored.
func TestAgentStopDuringApplyKeepsState(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	pool, err := w.tfe.AgentPools.Create(ctx, w.org, tfe.AgentPoolCreateOptions{Name: tfe.String("p"), OrganizationScoped: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	ws := w.workspace(t, "stopapply", true, nil)
	if _, err := w.tfe.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{AgentPoolID: tfe.String(pool.ID), ExecutionMode: tfe.String("agent")}); err != nil {
		t.Fatal(err)
	}
	at, err := w.tfe.AgentTokens.Create(ctx, pool.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("stopping")})
	if err != nil {
		t.Fatal(err)
	}
	bin, mirror := tools.OpenTofu(t)
	a, err := agent.New(agent.Config{Server: w.srv.D.URL(), Token: secretOf(at.Token), Pool: pool.ID, Binary: bin,
		ProviderMirror: mirror, WorkDir: w.workRoot, Poll: 50 * time.Millisecond, Watch: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	w.upload(t, ws, map[string]string{"main.tf": slowApply()})
	run := w.start(t, ws)
	waitCreated(t, w, run.ID)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunErrored)
	stateHas(t, w, ws, `"random_id"`, `"terraform_data"`)
}
