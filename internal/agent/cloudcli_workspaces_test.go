package agent_test

import (
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
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

// TestCLIWorkspaceTags: the cloud block selecting workspaces by tag names
// (key-only tag bindings in runcred): init offers only the workspaces with
// every tag (selecting the one there is), workspace new creates one with them, list and select work
// among them, and a plan runs in the selected one.
func TestCLIWorkspaceTags(t *testing.T) {
	for _, cli := range clis {
		t.Run(cli, func(t *testing.T) {
			w := newTLSWorld(t, "", nil)
			ctx := ctxT(t)
			for name, tags := range map[string][]tfe.TagBinding{
				"net-dev":  {{Key: "net"}, {Key: "app"}},
				"half":     {{Key: "net"}},
				"valued":   {{Key: "net", Value: "x"}, {Key: "app"}},
				"untagged": nil,
			} {
				ws := w.workspace(t, name, false, nil)
				if len(tags) > 0 {
					bs := make([]*tfe.TagBinding, len(tags))
					for i := range tags {
						bs[i] = &tags[i]
					}
					if _, err := w.tfe.Workspaces.AddTagBindings(ctx, ws.ID, tfe.WorkspaceAddTagBindingsOptions{TagBindings: bs}); err != nil {
						t.Fatal(err)
					}
				}
			}
			c := newCLIWork(t, w, cli, w.srv.Token, false)
			c.write("main.tf", c.block("cloud", `tags = ["net", "app"]`)+`resource "terraform_data" "a" { input = "a" }`+"\n")
			// Of the four, one has both tag names: init selects it.
			c.ok("init", "-input=false", "-no-color")
			if got := strings.TrimSpace(c.ok("workspace", "show", "-no-color")); got != "net-dev" {
				t.Fatalf("after init: workspace %q, want net-dev", got)
			}
			c.ok("workspace", "new", "-no-color", "net-prod")
			ws, err := w.tfe.Workspaces.Read(ctx, w.org, "net-prod")
			if err != nil || strings.Join(ws.TagNames, ",") != "app,net" {
				t.Fatalf("workspace new net-prod: %+v, %v", ws, err)
			}
			list := c.ok("workspace", "list", "-no-color")
			if !strings.Contains(list, "net-dev") || !strings.Contains(list, "* net-prod") ||
				strings.Contains(list, "half") || strings.Contains(list, "valued") || strings.Contains(list, "untagged") {
				t.Errorf("workspace list:\n%s", list)
			}
			c.ok("workspace", "select", "-no-color", "net-dev")
			out := c.ok("plan", "-input=false", "-no-color")
			if !strings.Contains(out, "/app/demo/net-dev/runs/") || !strings.Contains(out, "Plan: 1 to add") {
				t.Errorf("plan in net-dev:\n%s", out)
			}
		})
	}
}
