package agent_test

import (
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
)

// Hooks act by workspace name, so one agent serves every case.
var hooks = map[string]string{
	"terraform-pre-plan": `#!/bin/sh
case "$TFC_WORKSPACE_NAME" in
  hooks) echo "pre-plan hook in $TFC_WORKSPACE_SLUG"; echo "TF_VAR_from_hook=hi-hook" >> "$TFC_AGENT_ENV"; echo "TF_VAR_hook_secret=hook-exported-credential-9vQ" >> "$TFC_AGENT_ENV" ;;
  slow) sleep 30 ;;
  cancel) touch hook-started; sleep 600 ;;
esac
exit 0
`,
	"terraform-post-plan": `#!/bin/sh
echo "post-plan hook ran for $TFC_RUN_ID"
`,
	"terraform-pre-apply": `#!/bin/sh
if [ "$TFC_WORKSPACE_NAME" = hooks ]; then echo "pre-apply hook refuses"; exit 3; fi
`,
}

const hookConfig = `
variable "from_hook" {}
variable "hook_secret" {}
output "h" { value = var.from_hook }
output "s" { value = var.hook_secret }
resource "terraform_data" "x" {}
`

// TestHooks: a pre-plan hook's $TFC_AGENT_ENV value reaches the plan; a
// failing pre-apply hook fails the run; a post-plan hook runs after a
// failed plan; a pre hook past its timeout fails the run.
func TestHooks(t *testing.T) {
	w := newWorld(t, hooks, nil)
	ctx := ctxT(t)

	ws := w.workspace(t, "hooks", false, nil)
	w.upload(t, ws, map[string]string{"main.tf": hookConfig})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	log := w.logs(t, run)
	for _, want := range []string{"Executing pre-plan hook...", "pre-plan hook in demo/hooks", `+ h = "hi-hook"`, `+ s = "***"`, "post-plan hook ran for " + run.ID} {
		if !strings.Contains(log, want) {
			t.Fatalf("plan log lacks %q:\n%s", want, log)
		}
	}
	// What a pre hook exports is treated as a credential everywhere the
	// phase's output is kept, the plan JSON included.
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID)
	if err != nil || strings.Contains(string(pj), "hook-exported-credential-9vQ") || !strings.Contains(string(pj), `"hi-hook"`) {
		t.Fatalf("plan JSON = %s, %v", pj, err)
	}
	if err := w.tfe.Runs.Apply(ctx, run.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunErrored)
	log = w.logs(t, run)
	if !strings.Contains(log, "pre-apply hook refuses") || !strings.Contains(log, "hook terraform-pre-apply failed") || strings.Contains(log, "Apply complete") {
		t.Fatalf("apply log:\n%s", log)
	}
	if _, err := w.tfe.StateVersions.ReadCurrent(ctx, ws.ID); err == nil {
		t.Fatal("the failed apply stored a state")
	}

	broken := w.workspace(t, "broken", false, nil)
	w.upload(t, broken, map[string]string{"main.tf": `resource "terraform_data" "x" {` + "\n"})
	run = w.wait(t, w.start(t, broken).ID, tfe.RunErrored)
	if log := w.logs(t, run); !strings.Contains(log, "post-plan hook ran for "+run.ID) || !strings.Contains(log, "Error:") {
		t.Fatalf("failed plan's log:\n%s", log)
	}
	if r, err := w.tfe.Runs.Read(ctx, run.ID); err != nil || r.Status != tfe.RunErrored {
		t.Fatalf("run = %v, %v", r, err)
	}

	slow := w.workspace(t, "slow", false, map[string]string{"env:TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT": "1"})
	w.upload(t, slow, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run = w.wait(t, w.start(t, slow).ID, tfe.RunErrored)
	if log := w.logs(t, run); !strings.Contains(log, "hook terraform-pre-plan timed out after 1s") {
		t.Fatalf("timed-out hook's log:\n%s", log)
	}
}

// TestCancelRunningPlan: canceling a run while its plan runs stops the
// phase (its hook is killed), revokes its job token and frees the
// workspace for the next run.
func TestCancelRunningPlan(t *testing.T) {
	w := newWorld(t, hooks, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "cancel", false, map[string]string{"env:TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT": "600"})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	run := w.start(t, ws)
	for {
		r, err := w.tfe.Runs.Read(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w.inRun(t, "hook-started") && r.Status == tfe.RunPlanning {
			break
		}
		if terminal[r.Status] {
			t.Fatalf("run ended %s before it could be canceled", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.tfe.Runs.Cancel(ctx, run.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, run.ID, tfe.RunCanceled)

	// The workspace is free again: the next run is claimed and reaches its
	// hook (and is canceled in turn). The canceled phase's directory is
	// gone: the marker found now is the next run's.
	next := w.start(t, ws)
	for !w.inRun(t, "hook-started") {
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.tfe.Runs.Cancel(ctx, next.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, next.ID, tfe.RunCanceled)
}
