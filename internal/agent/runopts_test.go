package agent_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/store/storetest"
)

const twoIDs = `
resource "random_id" "a" { byte_length = 8 }
resource "random_id" "b" { byte_length = 8 }
`

// hexes maps each random_id in state to its hex value.
func hexes(t *testing.T, state []byte) map[string]string {
	t.Helper()
	var s struct {
		Resources []struct {
			Type, Name string
			Instances  []struct {
				Attributes struct {
					Hex string `json:"hex"`
				} `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(state, &s); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range s.Resources {
		if r.Type == "random_id" && len(r.Instances) == 1 {
			out[r.Name] = r.Instances[0].Attributes.Hex
		}
	}
	return out
}

func (w *world) run(t *testing.T, o tfe.RunCreateOptions) *tfe.Run {
	t.Helper()
	r, err := w.tfe.Runs.Create(ctxT(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTargetAndReplaceRuns: a targeted run creates only its target; a
// replace run replaces only what it names, and the other resource keeps
// its value. The run document shows the addresses. On both databases.
func TestTargetAndReplaceRuns(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { testTargetAndReplaceRuns(t, newWorldOn(t, b.NewURL(t), nil, nil)) })
	}
}

func testTargetAndReplaceRuns(t *testing.T, w *world) {
	ctx := ctxT(t)
	ws := w.workspace(t, "targets", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": twoIDs})

	r := w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, TargetAddrs: []string{"random_id.a"}}).ID, tfe.RunApplied)
	if !slices.Equal(r.TargetAddrs, []string{"random_id.a"}) || len(r.ReplaceAddrs) != 0 {
		t.Fatalf("run document: target %v, replace %v", r.TargetAddrs, r.ReplaceAddrs)
	}
	if p, err := w.tfe.Plans.Read(ctx, r.Plan.ID); err != nil || p.ResourceAdditions != 1 {
		t.Fatalf("targeted plan = %+v, %v", p, err)
	}
	if h := hexes(t, w.state(t, ws)); h["a"] == "" || h["b"] != "" {
		t.Fatalf("after the targeted run: %v", h)
	}

	w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	before := hexes(t, w.state(t, ws))
	if before["a"] == "" || before["b"] == "" {
		t.Fatalf("after the full run: %v", before)
	}

	r = w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, ReplaceAddrs: []string{"random_id.b"}}).ID, tfe.RunApplied)
	if !slices.Equal(r.ReplaceAddrs, []string{"random_id.b"}) {
		t.Fatalf("run document: replace %v", r.ReplaceAddrs)
	}
	if p, err := w.tfe.Plans.Read(ctx, r.Plan.ID); err != nil || p.ResourceAdditions != 1 || p.ResourceDestructions != 1 || p.ResourceChanges != 0 {
		t.Fatalf("replace plan = %+v, %v", p, err)
	}
	after := hexes(t, w.state(t, ws))
	if after["a"] != before["a"] || after["b"] == before["b"] || after["b"] == "" {
		t.Fatalf("replace random_id.b: before %v, after %v", before, after)
	}
}

// TestRefreshOptions: a refresh-only run updates the state's outputs and
// creates nothing the configuration added; a run with refresh false does
// not refresh (OpenTofu prints no "Refreshing state").
func TestRefreshOptions(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "refresh", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": `resource "random_id" "a" { byte_length = 8 }` + "\n" + `output "v" { value = "one" }` + "\n"})
	r := w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	before := hexes(t, w.state(t, ws))

	w.upload(t, ws, map[string]string{"main.tf": twoIDs + `output "v" { value = "two" }` + "\n"})
	r = w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, RefreshOnly: tfe.Bool(true)}).ID, tfe.RunApplied)
	if !r.RefreshOnly || !r.Refresh {
		t.Fatalf("run document: refresh-only %v, refresh %v", r.RefreshOnly, r.Refresh)
	}
	if p, err := w.tfe.Plans.Read(ctx, r.Plan.ID); err != nil || p.ResourceAdditions+p.ResourceChanges+p.ResourceDestructions != 0 {
		t.Fatalf("refresh-only plan = %+v, %v", p, err)
	}
	state := w.state(t, ws)
	if after := hexes(t, state); after["a"] != before["a"] || after["b"] != "" {
		t.Fatalf("refresh-only run: before %v, after %v", before, after)
	}
	if !strings.Contains(string(state), `"value": "two"`) {
		t.Fatalf("the refresh-only run did not update the outputs:\n%s", state)
	}

	r = w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, Refresh: tfe.Bool(false), PlanOnly: tfe.Bool(true)}).ID, tfe.RunPlannedAndFinished)
	log := w.logs(t, r)
	if r.Refresh || strings.Contains(log, "Refreshing state") || !strings.Contains(log, "Plan: 1 to add") {
		t.Fatalf("refresh false: run refresh %v, log:\n%s", r.Refresh, log)
	}
	// The same plan with refresh does refresh: the check above can fail.
	r = w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, PlanOnly: tfe.Bool(true)}).ID, tfe.RunPlannedAndFinished)
	if log := w.logs(t, r); !strings.Contains(log, "random_id.a: Refreshing state") {
		t.Fatalf("refresh: log:\n%s", log)
	}
}

// TestRunVariables: run variables reach the plan over the workspace's
// variable of the same name (the state's outputs hold them), never the
// logs or the JSON plan, and the run document names them without values;
// on both databases.
func TestRunVariables(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { testRunVariables(t, newWorldOn(t, b.NewURL(t), nil, nil)) })
	}
}

func testRunVariables(t *testing.T, w *world) {
	ctx := ctxT(t)
	ws := w.workspace(t, "runvars", true, map[string]string{"name": "from-workspace", "other": "kept-value"})
	w.upload(t, ws, map[string]string{"main.tf": `
variable "name" {}
variable "other" {}
variable "tags" { type = map(string) }
resource "terraform_data" "d" { input = var.name }
output "name" { value = var.name }
output "other" { value = var.other }
output "team" { value = var.tags["team"] }
`})
	r := w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, Variables: []*tfe.RunVariable{
		{Key: "name", Value: `"` + canary + `"`}, {Key: "tags", Value: `{ team = "` + canary + `-team" }`},
	}}).ID, tfe.RunApplied)
	if len(r.Variables) != 2 || r.Variables[0].Key != "name" || r.Variables[1].Key != "tags" || r.Variables[0].Value != "" {
		t.Fatalf("run document variables = %+v", r.Variables)
	}
	state := string(w.state(t, ws))
	for _, want := range []string{`"value": "` + canary + `"`, `"value": "` + canary + `-team"`, `"value": "kept-value"`} {
		if !strings.Contains(state, want) {
			t.Errorf("state lacks %s:\n%s", want, state)
		}
	}
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, r.Plan.ID)
	if err != nil {
		t.Fatal(err)
	}
	log := w.logs(t, r)
	if !strings.Contains(log, "Apply complete! Resources: 1 added") {
		t.Fatalf("log:\n%s", log)
	}
	for name, b := range map[string]string{"log": log, "plan JSON": string(pj), "server log": w.serverLog.String()} {
		if strings.Contains(b, canary) {
			t.Errorf("a run variable's value is in the %s", name)
		}
	}
}

// TestRunOptionsRefusedByAPI: go-tfe gets a 422 naming the attribute for a
// bad address or value, and no run is created.
func TestRunOptionsRefusedByAPI(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "refused", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": twoIDs})
	for want, o := range map[string]tfe.RunCreateOptions{
		"target-addrs[0]":    {Workspace: ws, TargetAddrs: []string{"random_id"}},
		"replace-addrs[0]":   {Workspace: ws, ReplaceAddrs: []string{"module.m"}},
		"variables[0].value": {Workspace: ws, Variables: []*tfe.RunVariable{{Key: "name", Value: canary}}},
		"variables[0].key":   {Workspace: ws, Variables: []*tfe.RunVariable{{Key: "a.b", Value: `"x"`}}},
		"is-destroy":         {Workspace: ws, IsDestroy: tfe.Bool(true), RefreshOnly: tfe.Bool(true)},
	} {
		_, err := w.tfe.Runs.Create(ctx, o)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), canary) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
	if l, err := w.tfe.Runs.List(ctx, ws.ID, nil); err != nil || len(l.Items) != 0 {
		t.Fatalf("runs = %v, %v", l, err)
	}
}

// TestRefreshOnlyDrift: a refresh-only run whose refresh finds a resource
// gone (a time_rotating past its rotation) has changes, and applying it
// takes the resource out of the state and nothing else.
func TestRefreshOnlyDrift(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	ws := w.workspace(t, "drift", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": `
resource "random_id" "a" { byte_length = 8 }
resource "time_rotating" "r" {
  rfc3339       = "2020-01-01T00:00:00Z"
  rotation_days = 1
}
`})
	w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	state := w.state(t, ws)
	before := hexes(t, state)
	if !strings.Contains(string(state), `"time_rotating"`) {
		t.Fatalf("state:\n%s", state)
	}
	r := w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, RefreshOnly: tfe.Bool(true)}).ID, tfe.RunApplied)
	if p, err := w.tfe.Plans.Read(ctx, r.Plan.ID); err != nil || !p.HasChanges || p.ResourceAdditions+p.ResourceChanges+p.ResourceDestructions != 0 {
		t.Fatalf("refresh-only plan = %+v, %v", p, err)
	}
	state = w.state(t, ws)
	if strings.Contains(string(state), `"time_rotating"`) || hexes(t, state)["a"] != before["a"] {
		t.Fatalf("after the refresh-only run (random_id.a was %s):\n%s", before["a"], state)
	}
}

// TestRunOptionsTerraform: the same options drive Terraform 1.5.7: a
// replace run with a run variable replaces only its target, and the
// variable reaches the state but not the log.
func TestRunOptionsTerraform(t *testing.T) {
	terraform := tools.Path(t, "bin/terraform")
	w := newWorld(t, nil, func(c *agent.Config) { c.Binary = terraform })
	ws := w.workspace(t, "tfopts", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": twoIDs + `
variable "name" { default = "none" }
output "name" { value = var.name }
`})
	w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	before := hexes(t, w.state(t, ws))
	r := w.wait(t, w.run(t, tfe.RunCreateOptions{Workspace: ws, ReplaceAddrs: []string{"random_id.a"},
		Variables: []*tfe.RunVariable{{Key: "name", Value: `"` + canary + `"`}}}).ID, tfe.RunApplied)
	state := w.state(t, ws)
	after := hexes(t, state)
	if after["a"] == before["a"] || after["b"] != before["b"] || !strings.Contains(string(state), `"value": "`+canary+`"`) {
		t.Fatalf("before %v, after %v, state:\n%s", before, after, state)
	}
	if log := w.logs(t, r); strings.Contains(log, canary) || !strings.Contains(log, "Resources: 1 added, 0 changed, 1 destroyed.") {
		t.Fatalf("log:\n%s", log)
	}
}
