package run_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

const runVarCanary = "run-variable-canary-3Jf8Qz"

// TestRunOptionsStored: a run's plan options are kept as given and read
// back; its variables' values are sealed (the row does not hold them), are
// not part of the run, and reach the phase's inputs over the workspace's
// variable of the same name, as sensitive HCL values.
func TestRunOptionsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)
		for k, v := range map[string]string{"name": "workspace", "other": "kept"} {
			if _, err := f.Svc.Variables.CreateVariable(ctx, f.Target.ID, variable.Options{Key: &k, Value: &v, Category: ptr("terraform")}); err != nil {
				t.Fatal(err)
			}
		}
		no := false
		r, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{
			Refresh: &no, TargetAddrs: []string{"random_id.a", `module.m["x"]`}, ReplaceAddrs: []string{"random_id.a[0]"},
			Variables: []run.Variable{{Key: "name", Value: secret.FromString(`"` + runVarCanary + `"`)}, {Key: "n", Value: secret.FromString("3")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Svc.Runs.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Refresh || got.RefreshOnly || !slices.Equal(got.TargetAddrs, []string{"random_id.a", `module.m["x"]`}) ||
			!slices.Equal(got.ReplaceAddrs, []string{"random_id.a[0]"}) || !slices.Equal(got.VariableKeys, []string{"name", "n"}) {
			t.Fatalf("run = %+v", got)
		}
		var sealed []byte
		if err := db.QueryRow(ctx, `SELECT variables FROM runs WHERE id = ?`, r.ID).Scan(&sealed); err != nil || len(sealed) == 0 ||
			bytes.Contains(sealed, []byte(runVarCanary)) {
			t.Fatalf("sealed variables = %q, %v", sealed, err)
		}

		claim(t, f, jobapi.Plan, r.ID)
		in, err := f.Svc.Runs.JobInputs(ctx, r.PlanID)
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]variable.RunVariable{}
		for _, v := range in.Variables {
			if _, dup := vars[v.Key]; dup {
				t.Fatalf("variable %s given twice", v.Key)
			}
			vars[v.Key] = v
		}
		if v := vars["name"]; v.Value.RevealString() != `"`+runVarCanary+`"` || !v.HCL || !v.Sensitive || v.Category != "terraform" {
			t.Fatalf("name = %+v (%s)", v, v.Value.RevealString())
		}
		if v := vars["other"]; v.Value.RevealString() != "kept" || v.HCL || v.Sensitive {
			t.Fatalf("other = %+v", v)
		}
		if v := vars["n"]; v.Value.RevealString() != "3" {
			t.Fatalf("n = %+v", v)
		}

		// A run created without options has HCP Terraform's defaults.
		uploaded(t, f, f.Mgr, false)
		plain, err := f.Svc.Runs.Create(ctx, f.Mgr.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if plain, err = f.Svc.Runs.Run(ctx, plain.ID); err != nil || !plain.Refresh || plain.RefreshOnly || plain.TargetAddrs == nil ||
			len(plain.TargetAddrs)+len(plain.ReplaceAddrs)+len(plain.VariableKeys) != 0 {
			t.Fatalf("plain run = %+v, %v", plain, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestRunOptionsRefused: every bad option is a 422 naming the attribute
// (and never quoting a variable's value), and no run is stored.
func TestRunOptionsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)
		yes, no := true, false
		v := func(k, val string) []run.Variable {
			return []run.Variable{{Key: k, Value: secret.FromString(val)}}
		}
		many := make([]string, run.MaxAddrs+1)
		for i := range many {
			many[i] = "random_id.a"
		}
		for name, c := range map[string]struct {
			o    run.Options
			want string
		}{
			"destroy and refresh-only": {run.Options{IsDestroy: &yes, RefreshOnly: &yes}, "refresh-only and is-destroy"},
			"refresh-only, no refresh": {run.Options{RefreshOnly: &yes, Refresh: &no}, "refresh-only needs refresh"},
			"replace, destroy":         {run.Options{IsDestroy: &yes, ReplaceAddrs: []string{"random_id.a"}}, "replace-addrs is allowed only"},
			"replace, refresh-only":    {run.Options{RefreshOnly: &yes, ReplaceAddrs: []string{"random_id.a"}}, "replace-addrs is allowed only"},
			"bad target":               {run.Options{TargetAddrs: []string{"random_id.a", "random_id"}}, "target-addrs[1]"},
			"target flag":              {run.Options{TargetAddrs: []string{"-destroy"}}, "target-addrs[0]"},
			"replace a module":         {run.Options{ReplaceAddrs: []string{"module.m"}}, "replace-addrs[0]"},
			"replace data":             {run.Options{ReplaceAddrs: []string{"data.x.y"}}, "replace-addrs[0]"},
			"too many targets":         {run.Options{TargetAddrs: many}, "target-addrs holds"},
			"bad key":                  {run.Options{Variables: v("1x", `"a"`)}, "variables[0].key"},
			"twice":                    {run.Options{Variables: append(v("x", `"a"`), v("x", `"b"`)...)}, "variables[1].key"},
			"unquoted value":           {run.Options{Variables: v("x", runVarCanary)}, "variables[0].value"},
			"function value":           {run.Options{Variables: v("x", `file("/etc/passwd")`)}, "variables[0].value"},
			"unbalanced value":         {run.Options{Variables: v("x", `{ a = "`+runVarCanary)}, "variables[0].value"},
		} {
			_, err := f.Svc.Runs.Create(ctx, f.Target.ID, c.o)
			if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), runVarCanary) {
				t.Errorf("%s: err = %v; want a 422 naming %s", name, err, c.want)
			}
		}
		if runs, n, err := f.Svc.Runs.Runs(ctx, f.Target.ID, resource.Page{}); err != nil || n != 0 || len(runs) != 0 {
			t.Fatalf("runs stored: %d, %v", n, err)
		}
	})
}
