package phase

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/runcred/runcred/internal/jobapi"
)

// A configuration started from a terminal names runcred itself as its
// backend: a cloud block or backend "remote". In the run those must not be
// used: the agent holds no API token for them, and runcred hands the phase
// the workspace's state itself. As HCP Terraform's agent does, the run uses
// the local backend instead, through an override file that replaces either
// block (OpenTofu and Terraform let a backend block in an override file
// replace a cloud block and the other way round).

// backendOverrideName is the override file the agent writes.
const backendOverrideName = "runcred_backend_override.tf.json"

const backendOverride = `{"terraform": [{"backend": {"local": {}}}]}` + "\n"

// overrideRemoteBackend writes the override file into dir when one of its
// configuration files has a cloud block or a remote backend. A file it
// cannot parse is left for OpenTofu to report.
func overrideRemoteBackend(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	remote := false
	p := hclparse.NewParser()
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || remote {
			continue
		}
		var f *hcl.File
		switch {
		case strings.HasSuffix(name, ".tf"):
			f, _ = p.ParseHCLFile(filepath.Join(dir, name))
		case strings.HasSuffix(name, ".tf.json"):
			f, _ = p.ParseJSONFile(filepath.Join(dir, name))
		default:
			continue
		}
		remote = f != nil && usesRemoteBackend(f.Body)
	}
	if !remote {
		return nil
	}
	path := filepath.Join(dir, backendOverrideName)
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the configuration has a file named %s, which runcred writes itself", backendOverrideName)
	}
	return writeFile(path, []byte(backendOverride), 0o600)
}

var terraformSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "terraform"}}}

var backendSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "cloud"}, {Type: "backend", LabelNames: []string{"type"}},
}}

// usesRemoteBackend reports whether a file's terraform blocks have a cloud
// block or backend "remote".
func usesRemoteBackend(body hcl.Body) bool {
	top, _, _ := body.PartialContent(terraformSchema)
	if top == nil {
		return false
	}
	for _, tb := range top.Blocks {
		inner, _, _ := tb.Body.PartialContent(backendSchema)
		if inner == nil {
			continue
		}
		for _, b := range inner.Blocks {
			if b.Type == "cloud" || (len(b.Labels) == 1 && b.Labels[0] == "remote") {
				return true
			}
		}
	}
	return false
}

// applyHeader opens an apply's log with three lines, as HCP Terraform's
// apply logs open: the CLIs' cloud and remote backends skip the first three
// lines of an apply log, which repeat there what the plan log said.
func (r *runner) applyHeader() {
	if r.spec.Phase != jobapi.Apply {
		return
	}
	r.log("Applying run " + r.spec.Env["TFC_RUN_ID"] + " on a runcred agent")
	r.log("on " + runtime.GOOS + "_" + runtime.GOARCH)
	r.log("Initializing plugins and modules...")
}
