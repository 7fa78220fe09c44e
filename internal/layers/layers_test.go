package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestTreeKeepsLayers holds every package of the tree (tests excepted)
// against the rules.
func TestTreeKeepsLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", Module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	for _, v := range Check(Rules(), pkgs) {
		t.Error(v)
	}
}

func TestCheck(t *testing.T) {
	pkg := func(rel string, imports []string, deps ...string) Package {
		p := Package{ImportPath: Module + "/" + rel}
		for _, i := range imports {
			p.Imports = append(p.Imports, Module+"/"+i)
		}
		for _, d := range append(imports, deps...) {
			p.Deps = append(p.Deps, Module+"/"+d)
		}
		return p
	}
	for _, c := range []struct {
		name string
		pkg  Package
		want string // "" for no violation
	}{
		{"down a layer", pkg("internal/platform", []string{"internal/store", "internal/fail"}), ""},
		{"own layer", pkg("internal/seal", []string{"internal/store"}), ""},
		{"a new subpackage is its layer's", pkg("internal/platform/runs", []string{"internal/platform", "internal/identity"}), ""},
		{"std and other modules", Package{ImportPath: Module + "/internal/fail", Imports: []string{"errors", "github.com/x/y"}}, ""},
		{"outside the module", Package{ImportPath: "github.com/x/y", Imports: []string{Module + "/cmd/runcred"}}, ""},
		{"tests' support may import anything", pkg("internal/daemon/daemontest", []string{"internal/daemon"}), ""},
		{"the agent over the protocol", pkg("internal/agent/creds", []string{"internal/jobapi", "internal/secret"}), ""},
		{"up a layer", pkg("internal/store", []string{"internal/platform"}),
			"internal/store (storage, sealing and clouds) imports internal/platform (platform), a layer above it"},
		{"up from a new subpackage", pkg("internal/platform/runs", []string{"internal/jobserver"}),
			"internal/platform/runs (platform) imports internal/jobserver (agent protocol server), a layer above it"},
		{"the protocol is below the server", pkg("internal/jobapi", []string{"internal/store"}),
			"internal/jobapi (agent protocol) imports internal/store (storage, sealing and clouds), a layer above it"},
		{"production imports test support", pkg("internal/identity", []string{"internal/clocktest"}),
			"internal/identity (issuer and broker) imports internal/clocktest (test support), a layer above it"},
		{"the agent on a server package", pkg("internal/agent/phase", []string{"internal/platform/runs"}),
			"internal/agent/phase (agent) depends on internal/platform/runs: the agent runs on other machines and reaches the server only over HTTP"},
		{"the agent on a server package through another", pkg("internal/agent", []string{"internal/jobapi"}, "internal/access"),
			"internal/agent (agent) depends on internal/access: the agent runs on other machines and reaches the server only over HTTP"},
		{"the server on the agent", pkg("internal/jobserver", []string{"internal/agent"}),
			"internal/jobserver (agent protocol server) imports internal/agent (agent), a layer above it"},
		{"in no layer", pkg("internal/nowhere", nil), "internal/nowhere is in no layer: add it to the rules in internal/layers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := strings.Join(Check(Rules(), []Package{c.pkg}), "\n")
			if got != c.want {
				t.Errorf("Check = %q\nwant    %q", got, c.want)
			}
		})
	}
}
