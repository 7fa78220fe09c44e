package agent_test

import (
	"strings"
	"testing"
)

// TestCLIWorkspacePrefix: the remote backend selecting workspaces by name
// prefix: init picks among the existing ones, workspace new creates one
// (prefixed), workspace list shows only the prefixed ones, select switches,
// and a plan runs in the selected workspace.
func TestCLIWorkspacePrefix(t *testing.T) {
	for _, cli := range clis {
		t.Run(cli, func(t *testing.T) {
			w := newTLSWorld(t, "", nil)
			ctx := ctxT(t)
			w.workspace(t, "net-dev", false, nil)
			w.workspace(t, "other", false, nil)
			c := newCLIWork(t, w, cli, w.srv.Token, false)
			c.env = append(c.env, "TF_WORKSPACE=dev")
			c.write("main.tf", c.block("remote", `prefix = "net-"`)+`resource "terraform_data" "a" { input = terraform.workspace }`+"\n")
			c.ok("init", "-input=false", "-no-color")
			c.env = c.env[:len(c.env)-1]
			c.ok("workspace", "new", "-no-color", "prod")
			if _, err := w.tfe.Workspaces.Read(ctx, w.org, "net-prod"); err != nil {
				t.Fatalf("workspace new prod: %v", err)
			}
			list := c.ok("workspace", "list", "-no-color")
			if !strings.Contains(list, "dev") || !strings.Contains(list, "* prod") || strings.Contains(list, "other") {
				t.Errorf("workspace list:\n%s", list)
			}
			c.ok("workspace", "select", "-no-color", "dev")
			if got := strings.TrimSpace(c.ok("workspace", "show", "-no-color")); got != "dev" {
				t.Errorf("workspace show = %q, want dev", got)
			}
			out := c.ok("plan", "-input=false", "-no-color")
			if !strings.Contains(out, "/app/demo/net-dev/runs/") || !strings.Contains(out, "Plan: 1 to add") {
				t.Errorf("plan in dev:\n%s", out)
			}
		})
	}
}
