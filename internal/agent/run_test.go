package agent_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/peers/tools"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
)

const canary = "canary-sensitive-7Qw2Lp9Xv"

// secretLen is how the state records the canary's length: proof that the
// sensitive value reached the run.
var secretLen = fmt.Sprintf(`"secret_len": %d`, len(canary))

const localConfig = `
variable "name" {}
variable "secret" { sensitive = true }
variable "tags" { type = map(string) }
variable "TFC_RUN_ID" {}
variable "TFC_WORKSPACE_SLUG" {}

resource "random_id" "x" { byte_length = 4 }

resource "terraform_data" "d" {
  input = {
    name       = var.name
    tags       = var.tags
    secret_len = nonsensitive(length(var.secret))
    slug       = var.TFC_WORKSPACE_SLUG
  }
  # Prints the sensitive value into the apply's log, not into the state.
  provisioner "local-exec" {
    command = "echo secret=${nonsensitive(var.secret)}"
  }
}

output "run" { value = var.TFC_RUN_ID }
output "tag" { value = var.tags["team"] }
`

// TestGoTFECompleteRun is the go-tfe scenario with a real agent
// and OpenTofu: create a workspace, set variables, upload a configuration,
// create a run, wait, apply, read the state.
func TestGoTFECompleteRun(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "local", false, map[string]string{
		"name": "demo", "secret!": canary, "hcl:tags": `{ team = "platform" }`, "env:TF_LOG": "",
	})
	w.upload(t, ws, map[string]string{"main.tf": localConfig})
	run := w.start(t, ws)
	run = w.wait(t, run.ID, tfe.RunPlanned)

	plan, err := w.tfe.Plans.Read(ctx, run.Plan.ID)
	if err != nil || !plan.HasChanges || plan.ResourceAdditions != 2 {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	planLog := w.logs(t, run)
	if !strings.Contains(planLog, "Plan: 2 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("plan log:\n%s", planLog)
	}
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID)
	if err != nil || !bytes.Contains(pj, []byte(`"terraform_data.d"`)) {
		t.Fatalf("plan JSON = %.300s, %v", pj, err)
	}

	if err := w.tfe.Runs.Apply(ctx, run.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunApplied)
	apply, err := w.tfe.Applies.Read(ctx, run.Apply.ID)
	if err != nil || apply.ResourceAdditions != 2 {
		t.Fatalf("apply = %+v, %v", apply, err)
	}
	all := w.logs(t, run)
	if !strings.Contains(all, "Apply complete! Resources: 2 added") || !strings.Contains(all, "terraform_data.d (local-exec): secret=***") {
		t.Fatalf("log:\n%s", all)
	}
	state := w.state(t, ws)
	for _, want := range []string{`"terraform_data"`, `"random_id"`, `"` + run.ID + `"`, `"platform"`, `"demo/local"`, secretLen} {
		if !bytes.Contains(state, []byte(want)) {
			t.Errorf("state lacks %s:\n%s", want, state)
		}
	}
	for name, b := range map[string][]byte{"state": state, "plan JSON": pj, "log": []byte(all), "server log": []byte(w.serverLog.String())} {
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("the sensitive value is in the %s", name)
		}
	}
	if !bytes.Contains(pj, []byte(`"secret"`)) {
		t.Error("the plan JSON lost the variable itself")
	}

	// A second run starts from the stored state: no resource changes, only
	// the output naming the run (which still counts as a change, as in HCP).
	w.upload(t, ws, map[string]string{"main.tf": localConfig})
	again := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	if p, err := w.tfe.Plans.Read(ctx, again.Plan.ID); err != nil || !p.HasChanges || p.ResourceAdditions+p.ResourceChanges+p.ResourceDestructions != 0 {
		t.Fatalf("second plan = %+v, %v", p, err)
	}
	if err := w.tfe.Runs.Discard(ctx, again.ID, tfe.RunDiscardOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, again.ID, tfe.RunDiscarded)
}

// TestTerraformBinary: an agent configured with Terraform instead of
// OpenTofu runs the same plan and apply; providers come from the mirror's
// registry.terraform.io tree.
func TestTerraformBinary(t *testing.T) {
	terraform := tools.Path(t, "bin/terraform")
	w := newWorld(t, nil, func(c *agent.Config) { c.Binary = terraform })
	ctx := ctxT(t)
	ws := w.workspace(t, "tf", true, map[string]string{"name": "demo", "secret!": canary, "hcl:tags": `{ team = "platform" }`})
	w.upload(t, ws, map[string]string{"main.tf": localConfig})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	log := w.logs(t, run)
	if !strings.Contains(log, "Terraform has been successfully initialized!") || !strings.Contains(log, "Apply complete! Resources: 2 added") ||
		!strings.Contains(log, "terraform_data.d (local-exec): secret=***") || strings.Contains(log, canary) {
		t.Fatalf("log:\n%s", log)
	}
	state := w.state(t, ws)
	if !bytes.Contains(state, []byte(`"terraform_version": "1.5.7"`)) || !bytes.Contains(state, []byte(secretLen)) || bytes.Contains(state, []byte(canary)) {
		t.Fatalf("state:\n%s", state)
	}
	if _, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID); err != nil {
		t.Fatal(err)
	}
}

// TestSensitiveHCLVariables: a sensitive HCL variable's evaluated value
// (not its source text) is kept out of the log and the plan JSON, also when
// the configuration does not declare it sensitive.
func TestSensitiveHCLVariables(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "hclsecret", false, map[string]string{
		"hcl:pw!": `"` + canary + `"`, "hcl:creds!": `{ password = "` + canary + `-obj" }`})
	w.upload(t, ws, map[string]string{"main.tf": `
variable "pw" { sensitive = true }
variable "creds" {}
resource "terraform_data" "d" { input = var.creds }
output "n" { value = nonsensitive(length(var.pw)) }
output "pw" { value = nonsensitive(var.pw) }
`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID)
	if err != nil {
		t.Fatal(err)
	}
	log := w.logs(t, run)
	// The variable's text as written, quotes included, is a secret too:
	// the output pw shows as the bare mask.
	if bytes.Contains(pj, []byte(canary)) || strings.Contains(log, canary) || !strings.Contains(log, "password") || !strings.Contains(log, "+ pw = ***") {
		t.Fatalf("a sensitive HCL value leaked\nlog:\n%s\nplan JSON: %s", log, pj)
	}
}

// TestDestroyRun: a destroy run plans and applies the destruction of what
// the workspace's state holds.
func TestDestroyRun(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "destroy", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" { input = "kept" }` + "\n"})
	w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	r, err := w.tfe.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, IsDestroy: tfe.Bool(true), Message: tfe.String("destroy")})
	if err != nil {
		t.Fatal(err)
	}
	r = w.wait(t, r.ID, tfe.RunApplied)
	p, err := w.tfe.Plans.Read(ctx, r.Plan.ID)
	if err != nil || p.ResourceDestructions != 1 || p.ResourceAdditions != 0 {
		t.Fatalf("destroy plan = %+v, %v", p, err)
	}
	if log := w.logs(t, r); !strings.Contains(log, "Resources: 0 added, 0 changed, 1 destroyed.") {
		t.Fatalf("log:\n%s", log)
	}
	if state := w.state(t, ws); bytes.Contains(state, []byte(`"terraform_data"`)) {
		t.Fatalf("state after destroy:\n%s", state)
	}
}

// TestShortSensitiveValueKeepsCounts: a sensitive value that is also a
// piece of the plan JSON's own vocabulary ("te" in "create") is masked in
// what is stored, but the plan's changes are still counted.
func TestShortSensitiveValueKeepsCounts(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "short", false, map[string]string{"env:LANG_CODE!": "te"})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}` + "\n"})
	r := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	if p, err := w.tfe.Plans.Read(ctx, r.Plan.ID); err != nil || !p.HasChanges || p.ResourceAdditions != 1 {
		t.Fatalf("plan = %+v, %v", p, err)
	}
}

// TestSymlinkedConfiguration: a configuration whose module and variables
// are symlinks inside it (as in a monorepo) runs; the links arrive as
// copies.
func TestSymlinkedConfiguration(t *testing.T) {
	w := newWorld(t, nil, nil)
	ws := w.workspace(t, "linked", true, nil)
	dir := t.TempDir()
	for p, body := range map[string]string{
		"shared/net/main.tf": `resource "terraform_data" "net" { input = "from the shared module" }` + "\n",
		"live/main.tf":       `module "net" { source = "./net" }` + "\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../shared/net", filepath.Join(dir, "live", "net")); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := w.tfe.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{WorkingDirectory: tfe.String("live")}); err != nil {
		t.Fatal(err)
	}
	cv, err := w.tfe.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.tfe.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		t.Fatal(err)
	}
	r := w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	if state := w.state(t, ws); !bytes.Contains(state, []byte("from the shared module")) {
		t.Fatalf("state:\n%s\nlog:\n%s", state, w.logs(t, r))
	}
}
