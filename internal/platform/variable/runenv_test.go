package variable_test

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestRunEnvironmentRefusedAtWrite: an environment variable that would
// re-point the toolchain outside the run directory is refused on create and
// update, of workspace and variable-set variables alike, with an invalid
// error naming the key and not the value; nothing is stored. The same key
// as a Terraform variable is only data, and is accepted.
func TestRunEnvironmentRefusedAtWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewApps(t, db)
		w, err := f.Svc.Workspaces.Create(pt.As(pt.Root), "acme", workspace.Options{Name: new("web")})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := f.Svc.Variables.CreateVariableSet(pt.As(pt.Root), "acme", variable.SetOptions{Name: new("shared"), Global: new(true)})
		if err != nil {
			t.Fatal(err)
		}
		refused := func(what string, err error, key, value string) {
			t.Helper()
			if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), key) || strings.Contains(err.Error(), value) {
				t.Errorf("%s %s: %v, want invalid naming the key, not the value", what, key, err)
			}
		}
		bad := [][2]string{{"TF_CLI_ARGS_plan", "-var-file=/etc/passwd"}, {"TF_LOG_PATH", "/tmp/x"}, {"LD_PRELOAD", "/tmp/evil.so"}, {"PATH", "/tmp/bin"}}
		for _, kv := range bad {
			o := variable.Options{Key: new(kv[0]), Value: new(kv[1]), Category: new(variable.CategoryEnv)}
			_, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), w.ID, o)
			refused("workspace create", err, kv[0], kv[1])
			_, err = f.Svc.Variables.CreateSetVariable(pt.As(pt.Root), vs.ID, o)
			refused("variable set create", err, kv[0], kv[1])
		}
		// Updates: of the value, of the key, of the category.
		v, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), w.ID, variable.Options{Key: new("TF_LOG_PATH"), Value: new("tofu.log"), Category: new(variable.CategoryEnv)})
		if err != nil {
			t.Fatalf("a log path inside the run directory: %v", err)
		}
		_, err = f.Svc.Variables.UpdateVariable(pt.As(pt.Root), w.ID, v.ID, variable.Options{Value: new("/tmp/x")})
		refused("workspace update", err, "TF_LOG_PATH", "/tmp/x")
		tv, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), w.ID, variable.Options{Key: new("TF_CLI_ARGS_plan"), Value: new("-var-file=/etc/passwd"), Category: new(variable.CategoryTerraform)})
		if err != nil {
			t.Fatalf("the same key as a terraform variable: %v", err)
		}
		_, err = f.Svc.Variables.UpdateVariable(pt.As(pt.Root), w.ID, tv.ID, variable.Options{Category: new(variable.CategoryEnv)})
		refused("workspace category update", err, "TF_CLI_ARGS_plan", "/etc/passwd")
		sv, err := f.Svc.Variables.CreateSetVariable(pt.As(pt.Root), vs.ID, variable.Options{Key: new("TF_LOG"), Value: new("TRACE"), Category: new(variable.CategoryEnv)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Svc.Variables.UpdateSetVariable(pt.As(pt.Root), vs.ID, sv.ID, variable.Options{Key: new("TF_LOG_PATH"), Value: new("../x")})
		refused("variable set update", err, "TF_LOG_PATH", "../x")

		// Nothing refused was stored: what a run would get (the global set
		// included) is what was accepted.
		got := map[string]string{}
		rv, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.Root), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range rv {
			got[v.Category+"/"+v.Key] = v.Value.RevealString()
		}
		sets, err := f.Svc.Variables.SetVariables(pt.As(pt.Root), vs.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range sets {
			got["set/"+v.Category+"/"+v.Key] = v.Value
		}
		want := map[string]string{"env/TF_LOG_PATH": "tofu.log", "env/TF_LOG": "TRACE", "terraform/TF_CLI_ARGS_plan": "-var-file=/etc/passwd", "set/env/TF_LOG": "TRACE"}
		if len(got) != len(want) {
			t.Fatalf("stored %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("stored %s = %q, want %q", k, got[k], v)
			}
		}
	})
}
