package run

import (
	"testing"

	"github.com/runcred/runcred/internal/broker/acl"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// TestRunTokenPolicyBody: the compiled policy parses as the broker reads
// it, also when its scopes overlap (a manager in the project it manages,
// sharing with it too), and allows exactly what its scope says.
func TestRunTokenPolicyBody(t *testing.T) {
	w := workspace.Workspace{ID: "ws-Mgr1", Organization: "acme", Name: "manager"}
	body := runTokenPolicyBody("acme", w, workspace.RunTokenScope{
		SharedFrom: []string{"net", "app"}, Managed: []string{"app", "manager"}, Projects: []string{"Default Project"},
	})
	p, err := acl.Parse("runcred-run-x", body)
	if err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	a := acl.New(p)
	for _, tc := range []struct {
		op, path string
		ok       bool
	}{
		{"read", "runcred/orgs/acme/workspaces/manager", true},
		{"update", "runcred/orgs/acme/workspaces/manager", true},
		{"read", "runcred/orgs/acme/workspaces/manager/state-versions", true},
		{"read", "runcred/orgs/acme/workspaces/net/state-outputs", true},
		{"read", "runcred/orgs/acme/workspaces/net/state-versions", false},
		{"list", "runcred/orgs/acme/workspaces/net/vars", false},
		{"create", "runcred/orgs/acme/workspaces/app/vars/role_id", true},
		{"delete", "runcred/orgs/acme/workspaces/app/vars/role_id", true},
		{"create", "runcred/orgs/acme/workspaces/net/vars/x", false},
		{"update", "runcred/orgs/acme/workspaces/net", false},
		{"create", "runcred/orgs/acme/workspaces/new-one", true},
		{"update", "runcred/orgs/acme/projects/Default Project", true},
		{"update", "runcred/orgs/acme/projects/other", false},
		{"update", "runcred/orgs/acme/workspaces/manager/agent", false},
		{"read", "runcred/orgs/acme/workspaces/app/run-variables", false},
		{"create", "runcred/orgs/acme/workspaces/app/runs", false},
		{"sudo", "runcred/orgs/acme/workspaces/app/vars/role_id", false},
		{"update", "runcred/orgs/acme/run-token-grants", false},
		{"read", "runcred/orgs/other/workspaces/manager", false},
	} {
		got := a.Allowed(engine.Operation(tc.op), tc.path, nil).Allowed
		if tc.op == "sudo" {
			got = false
			for _, c := range a.Capabilities(tc.path) {
				got = got || c == "sudo"
			}
		}
		if got != tc.ok {
			t.Errorf("%s %s = %v, want %v\n%s", tc.op, tc.path, got, tc.ok, body)
		}
	}
}
