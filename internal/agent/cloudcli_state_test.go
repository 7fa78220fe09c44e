package agent_test

import (
	"encoding/json"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
)

// TestCLILocalExecution: a workspace in local execution mode keeps the
// state of CLIs that run on this machine. Two applies at once: the second
// waits on the workspace's lock (-lock-timeout) while the first holds it,
// then plans on the state the first stored, so no state version is lost.
// state push refuses a stale serial, also with -force, where only the
// server's check remains; force-unlock lifts the lock the CLI then leaves.
func TestCLILocalExecution(t *testing.T) {
	for _, cli := range clis {
		t.Run(cli, func(t *testing.T) {
			w := newTLSWorld(t, "", nil)
			ctx := ctxT(t)
			ws, err := w.tfe.Workspaces.Create(ctx, w.org, tfe.WorkspaceCreateOptions{Name: tfe.String("net"), ExecutionMode: tfe.String("local")})
			if err != nil {
				t.Fatal(err)
			}
			first := newCLIWork(t, w, cli, w.srv.Token, false)
			second := newCLIWork(t, w, cli, w.srv.Token, false)
			for i, c := range []*cliWork{first, second} {
				who := []string{"first", "second"}[i]
				// The first apply's provisioner holds the lock until the
				// test lets it go on.
				c.write("main.tf", c.block("cloud", `name = "net"`)+`
resource "terraform_data" "a" {
  input = "`+who+`"
  provisioner "local-exec" {
    command = "if [ -f hold ]; then echo HOLDING; while [ ! -f release ]; do sleep 0.05; done; fi"
  }
}
`)
				c.ok("init", "-input=false", "-no-color")
			}
			first.write("hold", "")
			p1 := first.start("apply", "-auto-approve", "-input=false", "-no-color")
			p1.until("HOLDING")
			if r, err := w.tfe.Workspaces.ReadByID(ctx, ws.ID); err != nil || !r.Locked {
				t.Fatalf("workspace while the first apply runs: %+v, %v", r, err)
			}
			p2 := second.start("apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=3m")
			p2.until("Acquiring state lock")
			first.write("release", "")
			if out, code := p1.wait(); code != 0 || !strings.Contains(out, "Resources: 1 added") {
				t.Fatalf("first apply exited %d:\n%s", code, out)
			}
			out, code := p2.wait()
			if code != 0 || !strings.Contains(out, `~ input  = "first" -> "second"`) || !strings.Contains(out, "Resources: 0 added, 1 changed, 0 destroyed.") {
				t.Fatalf("second apply exited %d:\n%s", code, out)
			}
			svs, err := w.tfe.StateVersions.List(ctx, &tfe.StateVersionListOptions{Organization: w.org, Workspace: "net"})
			if err != nil || len(svs.Items) < 2 {
				t.Fatalf("state versions: %+v, %v", svs, err)
			}

			// A stale serial: the CLI refuses it itself, and with -force
			// the server does.
			var st map[string]any
			pulled := second.ok("state", "pull")
			if err := json.Unmarshal([]byte(pulled), &st); err != nil {
				t.Fatal(err)
			}
			st["serial"] = st["serial"].(float64) - 1
			b, _ := json.Marshal(st)
			second.write("stale.tfstate", string(b))
			if out, code := second.run("", "state", "push", "stale.tfstate"); code == 0 {
				t.Errorf("stale push accepted:\n%s", out)
			}
			out, code = second.run("", "state", "push", "-force", "stale.tfstate")
			if code == 0 || !strings.Contains(out, "is not greater than the current serial") {
				t.Errorf("stale push -force exited %d:\n%s", code, out)
			}
			if got := second.ok("state", "pull"); got != pulled {
				t.Errorf("state after refused pushes:\n%s\nwant\n%s", got, pulled)
			}

			// After a refused upload the CLI leaves the workspace locked on
			// purpose; force-unlock, with the lock ID the CLI names, lifts it.
			out, code = second.run("", "apply", "-auto-approve", "-input=false", "-no-color")
			if code == 0 || !strings.Contains(out, `lock ID: "demo/net"`) {
				t.Errorf("apply on the workspace left locked exited %d:\n%s", code, out)
			}
			second.ok("force-unlock", "-force", "demo/net")
			if r, err := w.tfe.Workspaces.ReadByID(ctx, ws.ID); err != nil || r.Locked {
				t.Fatalf("after force-unlock: %+v, %v", r, err)
			}
			st["serial"] = st["serial"].(float64) + 2
			b, _ = json.Marshal(st)
			second.write("next.tfstate", string(b))
			second.ok("state", "push", "next.tfstate")
		})
	}
}
