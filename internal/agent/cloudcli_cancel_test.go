package agent_test

import (
	"io"
	"os"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// TestCLIInterruptCancelsRemotePlan: Ctrl-C while a remote plan runs,
// answered yes, cancels the run on the agent; the CLI says so. OpenTofu
// 1.6.3 offers this during apply only: on plan it stops streaming and
// leaves the speculative plan to finish, as its plan header says.
func TestCLIInterruptCancelsRemotePlan(t *testing.T) {
	for _, tc := range []struct{ cli, cmd string }{{"tofu", "apply"}, {"terraform", "plan"}, {"terraform", "apply"}} {
		t.Run(tc.cli+"/"+tc.cmd, func(t *testing.T) {
			w := newTLSWorld(t, "", cliHooks(t))
			ws := w.workspace(t, "net", false, nil)
			c := newCLIWork(t, w, tc.cli, w.srv.Token, false)
			c.write("main.tf", c.block("cloud", `name = "net"`)+`resource "terraform_data" "a" { input = "a" }`+"\n")
			c.write("hold-plan", "")
			c.ok("init", "-input=false", "-no-color")
			p := c.start(tc.cmd, "-no-color")
			p.until("HOLDING plan")
			if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			p.until("Do you want to cancel the remote operation?")
			if _, err := io.WriteString(p.stdin, "yes\n"); err != nil {
				t.Fatal(err)
			}
			out, _ := p.wait()
			w.wait(t, latestRun(t, w, ws).ID, tfe.RunCanceled)
			if !strings.Contains(out, "The remote operation was successfully cancelled.") {
				t.Errorf("the CLI did not say the run was canceled:\n%s", out)
			}
		})
	}
}

// TestCLISecondApplyWaits: a second CLI's apply on a workspace whose run
// is still planning waits in the queue, saying so, and plans on the state
// the first one left: no state version is lost.
func TestCLISecondApplyWaits(t *testing.T) {
	w := newTLSWorld(t, "", cliHooks(t))
	ws := w.workspace(t, "net", false, nil)
	first := newCLIWork(t, w, "tofu", w.srv.Token, false)
	second := newCLIWork(t, w, "terraform", w.srv.Token, false)
	for _, c := range []*cliWork{first, second} {
		who := map[*cliWork]string{first: "first", second: "second"}[c]
		c.write("main.tf", c.block("cloud", `name = "net"`)+`resource "terraform_data" "a" { input = "`+who+`" }`+"\n")
		c.ok("init", "-input=false", "-no-color")
	}
	first.write("hold-plan", "")
	p1 := first.start("apply", "-auto-approve", "-no-color")
	p1.until("HOLDING plan")
	p2 := second.start("apply", "-auto-approve", "-no-color")
	p2.until("Waiting for 1 run(s) to finish before being queued...")
	// The organization's queue, which the CLIs read too: the first run is
	// running, the second waits behind it in its workspace, not for an agent.
	ctx := ctxT(t)
	if c, err := w.tfe.Organizations.ReadCapacity(ctx, w.org); err != nil || c.Running != 1 || c.Pending != 0 {
		t.Errorf("capacity %+v, %v", c, err)
	}
	if q, err := w.tfe.Organizations.ReadRunQueue(ctx, w.org, tfe.ReadRunQueueOptions{}); err != nil || len(q.Items) != 0 {
		t.Errorf("run queue %+v, %v", q, err)
	}
	release(t, w)
	if out, code := p1.wait(); code != 0 || !strings.Contains(out, "Resources: 1 added") {
		t.Fatalf("first apply exited %d:\n%s", code, out)
	}
	out, code := p2.wait()
	if code != 0 || !strings.Contains(out, `~ input  = "first" -> "second"`) || !strings.Contains(out, "Resources: 0 added, 1 changed, 0 destroyed.") {
		t.Fatalf("second apply exited %d:\n%s", code, out)
	}
	svs, err := w.tfe.StateVersions.List(ctx, &tfe.StateVersionListOptions{Organization: w.org, Workspace: ws.Name})
	if err != nil || len(svs.Items) != 2 || svs.Items[0].Serial <= svs.Items[1].Serial {
		t.Fatalf("state versions: %+v, %v", svs, err)
	}
}
