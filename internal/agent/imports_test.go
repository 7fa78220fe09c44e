package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentImportsNoServerPackage: the agent reaches the server only over
// HTTP (DESIGN.md); none of the server's packages is linked into it.
func TestAgentImportsNoServerPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/runcred/runcred/internal/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, server := range []string{"/internal/platform", "/internal/store", "/internal/broker", "/internal/identity",
			"/internal/audit", "/internal/daemon", "/internal/jobserver", "/internal/seal", "/internal/token"} {
			if strings.HasPrefix(dep, "github.com/runcred/runcred"+server) {
				t.Errorf("the agent depends on %s", dep)
			}
		}
	}
}
