package agent_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/peers/minio"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestCLIRemoteRuns: OpenTofu and Terraform, with the cloud block and with
// the remote backend, on both databases: init finds (or, with the cloud
// block, creates) the workspace; plan is a speculative run on the agent
// whose log reaches the terminal while the plan still runs, with the plan
// role's dynamic AWS credentials (MinIO refuses it a write); apply asks for
// confirmation, and a "no" discards the run; apply with the apply role;
// output, state pull and show read the remote state; destroy empties it.
func TestCLIRemoteRuns(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		for _, cli := range clis {
			for _, kind := range []string{"cloud", "remote"} {
				t.Run(b.Name+"/"+cli+"/"+kind, func(t *testing.T) { testCLIRemoteRuns(t, b.NewURL(t), cli, kind) })
			}
		}
	}
}

func testCLIRemoteRuns(t *testing.T, url, cli, kind string) {
	w := newTLSWorld(t, url, cliHooks(t))
	ctx := ctxT(t)
	m := minio.Start(t, minio.Options{
		OpenID:   []minio.OpenID{{ConfigURL: w.srv.D.PublicURL() + "/.well-known/openid-configuration", ClientID: "aws.workload.identity", RolePolicy: "runs"}},
		Policies: map[string]string{"runs": runsPolicy}, Buckets: []string{"tfstate"}, CAFiles: []string{w.srv.CAFile()},
	})
	name := "net-" + cli + "-" + kind
	if kind == "remote" { // the remote backend does not create workspaces
		w.workspace(t, name, false, nil)
	}
	c := newCLIWork(t, w, cli, w.srv.Token, kind == "cloud")
	c.write("main.tf", c.block(kind, fmt.Sprintf("name = %q", name))+`
variable "gen" { type = number }
resource "terraform_data" "a" { input = "a-${var.gen}" }
output "a" { value = terraform_data.a.output }
`)
	c.ok("init", "-input=false", "-no-color")
	ws, err := w.tfe.Workspaces.Read(ctx, w.org, name)
	if err != nil {
		t.Fatalf("after init: %v", err)
	}
	arn := m.RoleARNs[""]
	for k, v := range map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_PLAN_ROLE_ARN": arn, "TFC_AWS_APPLY_ROLE_ARN": arn, "PROBE_MINIO": m.URL} {
		if _, err := w.tfe.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String(k), Value: tfe.String(v), Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.tfe.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("gen"), Value: tfe.String("1"), Category: tfe.Category(tfe.CategoryTerraform)}); err != nil {
		t.Fatal(err)
	}

	// The plan holds until the test has seen its first lines on the
	// terminal: a log delivered only at the end would never get there.
	c.write("hold-plan", "")
	p := c.start("plan", "-input=false", "-no-color")
	p.until("HOLDING plan")
	release(t, w)
	out, code := p.wait()
	if code != 0 || !strings.Contains(out, "PROBE own plan: WRITE DENIED AccessDenied") || !strings.Contains(out, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("plan exited %d:\n%s", code, out)
	}
	runs, err := w.tfe.Runs.List(ctx, ws.ID, nil)
	if err != nil || len(runs.Items) != 1 || runs.Items[0].Status != tfe.RunPlannedAndFinished {
		t.Fatalf("after plan: runs %+v, %v", runs, err)
	}
	c.remove("hold-plan")

	// Answering anything but yes discards the run.
	out, code = c.run("no\n", "apply", "-no-color")
	if code == 0 || !strings.Contains(out, "Do you want to perform these actions") {
		t.Fatalf("apply answered no exited %d:\n%s", code, out)
	}
	if r := latestRun(t, w, ws); r.Status != tfe.RunDiscarded {
		t.Fatalf("after a no: run %s", r.Status)
	}
	out, code = c.run("yes\n", "apply", "-no-color")
	if code != 0 || !strings.Contains(out, "PROBE own apply: WRITE ALLOWED") || !strings.Contains(out, "Apply complete! Resources: 1 added") {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	if r := latestRun(t, w, ws); r.Status != tfe.RunApplied {
		t.Fatalf("after apply: run %s", r.Status)
	}

	if got := strings.TrimSpace(c.ok("output", "-raw", "a")); got != "a-1" {
		t.Errorf("output a = %q, want a-1", got)
	}
	var st struct {
		Serial    int64 `json:"serial"`
		Resources []struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(c.ok("state", "pull")), &st); err != nil || len(st.Resources) != 1 || st.Resources[0].Name != "a" {
		t.Fatalf("state pull: %+v, %v", st, err)
	}
	if out := c.ok("show", "-no-color"); !strings.Contains(out, `resource "terraform_data" "a"`) || !strings.Contains(out, `"a-1"`) {
		t.Errorf("show:\n%s", out)
	}

	out = c.ok("destroy", "-auto-approve", "-no-color")
	if !strings.Contains(out, "Resources: 0 added, 0 changed, 1 destroyed.") || !strings.Contains(out, "PROBE own apply: WRITE ALLOWED") {
		t.Fatalf("destroy:\n%s", out)
	}
	if err := json.Unmarshal([]byte(c.ok("state", "pull")), &st); err != nil || len(st.Resources) != 0 {
		t.Fatalf("state after destroy: %+v, %v", st, err)
	}
}

// latestRun is the workspace's newest run.
func latestRun(t *testing.T, w *world, ws *tfe.Workspace) *tfe.Run {
	t.Helper()
	runs, err := w.tfe.Runs.List(ctxT(t), ws.ID, nil)
	if err != nil || len(runs.Items) == 0 {
		t.Fatalf("runs: %+v, %v", runs, err)
	}
	return runs.Items[0]
}
