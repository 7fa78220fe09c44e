package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"
)

// limitedToken is a token of w's server with only policy.
func limitedToken(t *testing.T, w *world, policy string) string {
	t.Helper()
	v, err := vault.NewClient(&vault.Config{Address: w.srv.D.URL(), HttpClient: w.srv.HTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	v.SetToken(w.srv.Token)
	if err := v.Sys().PutPolicy("limited", policy); err != nil {
		t.Fatal(err)
	}
	s, err := v.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"limited"}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	return s.Auth.ClientToken
}

// TestCLIErrors: what goes wrong is said in the CLI's own words, and no
// CLI crashes: a token that may read the workspace but not start runs; a
// workspace locked by someone else, which the CLI stops waiting for after
// -lock-timeout; a run canceled by someone else while it plans; a
// configuration over the archive limits.
func TestCLIErrors(t *testing.T) {
	for _, cli := range clis {
		t.Run(cli, func(t *testing.T) { testCLIErrors(t, cli) })
	}
}

func testCLIErrors(t *testing.T, cli string) {
	w := newTLSWorld(t, "", cliHooks(t))
	ctx := ctxT(t)
	ws := w.workspace(t, "net", false, nil)
	config := `resource "terraform_data" "a" { input = "a" }` + "\n"

	reader := limitedToken(t, w, `path "runcred/orgs/demo" { capabilities = ["read"] }
path "runcred/orgs/demo/workspaces/net" { capabilities = ["read"] }`)
	c := newCLIWork(t, w, cli, reader, false)
	c.write("main.tf", c.block("cloud", `name = "net"`)+config)
	c.ok("init", "-input=false", "-no-color")
	for _, cmd := range []string{"plan", "apply"} {
		out, code := c.run("", cmd, "-input=false", "-no-color")
		if code != 1 || !strings.Contains(out, "Insufficient rights to ") || strings.Contains(out, "crash") {
			t.Errorf("%s with a read-only token exited %d:\n%s", cmd, code, out)
		}
	}
	if runs, err := w.tfe.Runs.List(ctx, ws.ID, nil); err != nil || len(runs.Items) != 0 {
		t.Fatalf("runs after refusals: %+v, %v", runs, err)
	}

	c = newCLIWork(t, w, cli, w.srv.Token, false)
	c.write("main.tf", c.block("cloud", `name = "net"`)+config)
	c.ok("init", "-input=false", "-no-color")

	// Locked by someone else: the run waits, and after -lock-timeout the
	// CLI cancels it.
	other := limitedToken(t, w, `path "runcred/orgs/demo/workspaces/net" { capabilities = ["read"] }
path "runcred/orgs/demo/workspaces/net/actions/lock" { capabilities = ["update"] }`)
	oc, err := tfe.NewClient(&tfe.Config{Address: w.srv.D.URL(), Token: other, HTTPClient: w.srv.HTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{Reason: tfe.String("maintenance")}); err != nil {
		t.Fatal(err)
	}
	out, _ := c.run("", "apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=1s")
	if !strings.Contains(out, "Lock timeout exceeded") {
		t.Errorf("apply on a locked workspace:\n%s", out)
	}
	// The CLI cancels the run it left waiting, unless its interrupt lands
	// while it reads the workspace: then it exits without (a race in the
	// CLIs' backends). Either way the run never started.
	r := latestRun(t, w, ws)
	switch {
	case strings.Contains(out, "The remote operation was successfully cancelled."):
		w.wait(t, r.ID, tfe.RunCanceled)
	case r.Status == tfe.RunPending:
		t.Logf("the CLI exited without canceling its run:\n%s", out)
		if err := w.tfe.Runs.Cancel(ctx, r.ID, tfe.RunCancelOptions{}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("run on a locked workspace is %s:\n%s", r.Status, out)
	}
	if _, err := w.tfe.Workspaces.ForceUnlock(ctx, ws.ID); err != nil {
		t.Fatal(err)
	}

	// Canceled elsewhere while it plans.
	c.write("hold-plan", "")
	p := c.start("apply", "-auto-approve", "-input=false", "-no-color")
	p.until("HOLDING plan")
	r = latestRun(t, w, ws)
	if err := w.tfe.Runs.Cancel(ctx, r.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	out, code := p.wait()
	if code == 0 || strings.Contains(out, "crash") || !strings.Contains(out, "Canceled by request") {
		t.Errorf("apply canceled elsewhere exited %d:\n%s", code, out)
	}
	w.wait(t, r.ID, tfe.RunCanceled)
	c.remove("hold-plan")

	// Over the archive limits: a file that unpacks to more than a hundred
	// times its compressed size, past the floor below which any ratio goes.
	// OpenTofu 1.6.3's go-tfe prints only the status of a refused upload;
	// Terraform's prints the detail, which names the limit.
	if err := os.WriteFile(filepath.Join(c.dir, "zeros.bin"), make([]byte, 24<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = c.run("", "plan", "-input=false", "-no-color")
	if code == 0 || !strings.Contains(out, "Failed to upload configuration files") || !strings.Contains(out, map[string]string{
		"tofu": "Failed to upload configuration files: error HTTP response: 422", "terraform": "a compression bomb rather than source code"}[cli]) {
		t.Errorf("plan of a configuration over the limits exited %d:\n%s", code, out)
	}
}
