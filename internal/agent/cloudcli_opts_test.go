package agent_test

import (
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/store/storetest"
)

// TestCLIRunOptions: the run options typed at the terminal reach the run on
// the agent, through the cloud block and the remote backend, with OpenTofu
// and Terraform: plan/apply -target, apply -replace, plan/apply
// -refresh-only, -var and -var-file (run variables: the value reaches the
// state, never the terminal or the server's log), plan -destroy and
// destroy. Each changes only what it names, asserted on the stored state;
// the run document carries the option.
func TestCLIRunOptions(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		for _, cli := range clis {
			for _, kind := range []string{"cloud", "remote"} {
				t.Run(b.Name+"/"+cli+"/"+kind, func(t *testing.T) { testCLIRunOptions(t, b.NewURL(t), cli, kind) })
			}
		}
	}
}

func testCLIRunOptions(t *testing.T, url, cli, kind string) {
	w := newTLSWorld(t, url, nil)
	name := "opts-" + cli + "-" + kind
	ws := w.workspace(t, name, false, nil)
	c := newCLIWork(t, w, cli, w.srv.Token, false)
	config := func(keeper string) string {
		return c.block(kind, "name = \""+name+"\"") + `
variable "name" { default = "none" }
resource "random_id" "a" { byte_length = 8 }
resource "random_id" "b" {
  byte_length = 8
  keepers     = { k = "` + keeper + `" }
}
output "name" { value = var.name }
`
	}
	c.write("main.tf", config("1"))
	c.ok("init", "-input=false", "-no-color")
	// must runs the CLI and wants its output to hold every one of want,
	// and not hidden, the value of the run variable it sets.
	hidden := ""
	must := func(args []string, want ...string) string {
		t.Helper()
		out := c.ok(append(args, "-input=false", "-no-color")...)
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Fatalf("%s %s: no %q in:\n%s", cli, strings.Join(args, " "), s, out)
			}
		}
		if hidden != "" && strings.Contains(out, hidden) {
			t.Fatalf("%s %s: the run variable's value is on the terminal:\n%s", cli, strings.Join(args, " "), out)
		}
		return out
	}

	// -target: the plan and the apply touch only random_id.a.
	must([]string{"plan", "-target=random_id.a"}, "Plan: 1 to add, 0 to change, 0 to destroy.")
	if r := latestRun(t, w, ws); len(r.TargetAddrs) != 1 || r.TargetAddrs[0] != "random_id.a" {
		t.Fatalf("targeted plan's run: targets %v", r.TargetAddrs)
	}
	must([]string{"apply", "-auto-approve", "-target=random_id.a"}, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
	st := hexes(t, w.state(t, ws))
	if len(st) != 1 || st["a"] == "" {
		t.Fatalf("state after the targeted apply: %v", st)
	}
	must([]string{"apply", "-auto-approve"}, "Resources: 1 added, 0 changed, 0 destroyed.")
	before := hexes(t, w.state(t, ws))
	if len(before) != 2 || before["a"] != st["a"] {
		t.Fatalf("state after the full apply: %v, was %v", before, st)
	}

	// -replace: random_id.a is new, random_id.b as it was.
	must([]string{"apply", "-auto-approve", "-replace=random_id.a"}, "Resources: 1 added, 0 changed, 1 destroyed.")
	after := hexes(t, w.state(t, ws))
	if after["a"] == before["a"] || after["b"] != before["b"] {
		t.Fatalf("replace random_id.a: before %v, after %v", before, after)
	}
	if r := latestRun(t, w, ws); len(r.ReplaceAddrs) != 1 || r.ReplaceAddrs[0] != "random_id.a" {
		t.Fatalf("replace run: replace %v", r.ReplaceAddrs)
	}
	before = after

	// -refresh-only: a changed keeper would replace random_id.b in a
	// normal run; a refresh-only run only reads the objects, finds them as
	// they were, and ends after its plan.
	c.write("main.tf", config("2"))
	must([]string{"plan", "-refresh-only"}, "No changes.")
	must([]string{"apply", "-auto-approve", "-refresh-only"}, "No changes.")
	if r := latestRun(t, w, ws); !r.RefreshOnly || r.Status != tfe.RunPlannedAndFinished {
		t.Fatalf("refresh-only apply's run: %s, refresh-only %v", r.Status, r.RefreshOnly)
	}
	if after = hexes(t, w.state(t, ws)); after["a"] != before["a"] || after["b"] != before["b"] {
		t.Fatalf("refresh-only apply: before %v, after %v", before, after)
	}
	c.write("main.tf", config("1"))

	// -var and -var-file: run variables; the value is in the stored state
	// and nowhere in the CLI's output or the server's log. The remote
	// backend of these CLI versions refuses run variables itself (an
	// *.auto.tfvars file, uploaded with the configuration, is its way).
	c.write("extra.tfvars", `name = "`+canary+`-file"`+"\n")
	if kind == "remote" {
		last := latestRun(t, w, ws)
		for _, arg := range []string{"-var=name=" + canary, "-var-file=extra.tfvars"} {
			out, code := c.run("", "apply", "-auto-approve", "-input=false", "-no-color", arg)
			if code == 0 || !strings.Contains(out, "Run variables are currently not supported") || strings.Contains(out, canary) {
				t.Fatalf("%s apply %s with the remote backend exited %d:\n%s", cli, arg, code, out)
			}
		}
		if r := latestRun(t, w, ws); r.ID != last.ID {
			t.Fatalf("a refused run variable started run %s", r.ID)
		}
		c.write("run.auto.tfvars", `name = "from-auto-tfvars"`+"\n")
		must([]string{"apply", "-auto-approve"}, "Apply complete! Resources: 0 added, 0 changed, 0 destroyed.")
		if state := string(w.state(t, ws)); !strings.Contains(state, `"value": "from-auto-tfvars"`) {
			t.Fatalf("state after an apply with run.auto.tfvars:\n%s", state)
		}
		c.remove("run.auto.tfvars")
	} else {
		hidden = canary
		must([]string{"apply", "-auto-approve", "-var", "name=" + canary}, "Apply complete! Resources: 0 added, 0 changed, 0 destroyed.")
		if r := latestRun(t, w, ws); len(r.Variables) != 1 || r.Variables[0].Key != "name" || r.Variables[0].Value != "" {
			t.Fatalf("-var run: variables %+v", r.Variables)
		}
		state := string(w.state(t, ws))
		if !strings.Contains(state, `"value": "`+canary+`"`) {
			t.Fatalf("state after -var:\n%s", state)
		}
		if after = hexes(t, []byte(state)); after["a"] != before["a"] || after["b"] != before["b"] {
			t.Fatalf("-var apply: before %v, after %v", before, after)
		}
		// The previous value is now the state's, not this run's: the plan
		// shows it as the output's old value (an output that must never
		// show is declared sensitive).
		hidden = canary + "-file"
		must([]string{"apply", "-auto-approve", "-var-file=extra.tfvars"}, "Apply complete!")
		if state := string(w.state(t, ws)); !strings.Contains(state, `"value": "`+canary+`-file"`) {
			t.Fatalf("state after -var-file:\n%s", state)
		}
		hidden = ""
	}
	c.remove("extra.tfvars")
	if strings.Contains(w.serverLog.String(), canary) {
		t.Error("a run variable's value is in the server's log")
	}

	// -destroy plans the destruction and changes nothing; destroy empties
	// the state.
	must([]string{"plan", "-destroy"}, "Plan: 0 to add, 0 to change, 2 to destroy.")
	if r := latestRun(t, w, ws); !r.IsDestroy {
		t.Fatalf("plan -destroy's run: %+v", r)
	}
	if after = hexes(t, w.state(t, ws)); len(after) != 2 {
		t.Fatalf("state after plan -destroy: %v", after)
	}
	must([]string{"destroy", "-auto-approve"}, "Resources: 0 added, 0 changed, 2 destroyed.")
	if after = hexes(t, w.state(t, ws)); len(after) != 0 {
		t.Fatalf("state after destroy: %v", after)
	}
}
