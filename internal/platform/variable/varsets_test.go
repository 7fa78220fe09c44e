package variable_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func newSet(t *testing.T, f *pt.Apps, org, name string, global bool, vars map[string]string) variable.Set {
	t.Helper()
	vs, err := f.Svc.Variables.CreateVariableSet(pt.As(pt.Root), org, variable.SetOptions{Name: new(name), Global: &global})
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range vars {
		cat, k := "terraform", key
		if rest, ok := strings.CutPrefix(key, "env/"); ok {
			cat, k = "env", rest
		}
		if _, err := f.Svc.Variables.CreateSetVariable(pt.As(pt.Root), vs.ID, variable.Options{Key: new(k), Value: new(value), Category: new(cat), Sensitive: new(true)}); err != nil {
			t.Fatal(err)
		}
	}
	return vs
}

// TestSetVariablesPrecedence: one value per category and key, from the
// set applied to the workspace, else to its project, else a global set;
// within a scope, from the set whose name sorts first.
func TestSetVariablesPrecedence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewApps(t, db)
		prj, err := f.Svc.Organizations.CreateProject(pt.As(pt.Root), "acme", organization.ProjectOptions{Name: "team"})
		if err != nil {
			t.Fatal(err)
		}
		w, err := f.Svc.Workspaces.Create(pt.As(pt.Root), "acme", workspace.Options{Name: new("web"), ProjectID: &prj.ID})
		if err != nil {
			t.Fatal(err)
		}
		newSet(t, f, "acme", "b global", true, map[string]string{"region": "global-b", "only_b": "b", "tie": "b"})
		newSet(t, f, "acme", "a global", true, map[string]string{"tie": "a", "env/region": "env-global"})
		p := newSet(t, f, "acme", "project", false, map[string]string{"region": "project", "zone": "project"})
		ws := newSet(t, f, "acme", "z workspace", false, map[string]string{"zone": "workspace"})
		elsewhere := newSet(t, f, "acme", "0 elsewhere", false, map[string]string{"region": "elsewhere"})
		newSet(t, f, "other", "0 foreign global", true, map[string]string{"region": "foreign"})
		if err := f.Svc.Variables.ApplyVariableSetToProjects(pt.As(pt.Root), p.ID, []string{prj.ID}); err != nil {
			t.Fatal(err)
		}
		if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(pt.As(pt.Root), ws.ID, []string{w.ID}); err != nil {
			t.Fatal(err)
		}
		if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(pt.As(pt.Root), elsewhere.ID, []string{f.App.ID}); err != nil {
			t.Fatal(err)
		}
		rv, err := variable.NewRunInputs(f.Svc.Variables).FromSets(pt.As(pt.Root), w)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, v := range rv {
			if _, dup := got[v.Category+"/"+v.Key]; dup {
				t.Errorf("%s/%s returned twice", v.Category, v.Key)
			}
			if !v.Sensitive || v.WrittenBy.Kind != resource.WriterUser {
				t.Errorf("%s: sensitive %v, writer %+v", v.Key, v.Sensitive, v.WrittenBy)
			}
			got[v.Category+"/"+v.Key] = v.Value.RevealString()
		}
		want := map[string]string{
			"terraform/region": "project",   // project over global
			"terraform/zone":   "workspace", // workspace over project
			"terraform/tie":    "a",         // "a global" sorts before "b global"
			"terraform/only_b": "b",
			"env/region":       "env-global", // categories do not collide
		}
		if len(got) != len(want) {
			t.Errorf("set variables = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q", k, got[k], v)
			}
		}

		// Moving the workspace out of the project drops the project's set.
		if w, err = f.Svc.Workspaces.Update(pt.As(pt.Root), w.ID, workspace.Options{ProjectID: new(mustOrg(t, f, "acme").DefaultProjectID)}); err != nil {
			t.Fatal(err)
		}
		rv, err = variable.NewRunInputs(f.Svc.Variables).FromSets(pt.As(pt.Root), w)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range rv {
			if v.Key == "region" && v.Category == "terraform" && v.Value.RevealString() != "global-b" {
				t.Errorf("region after leaving the project = %q", v.Value.RevealString())
			}
		}
	})
}

func mustOrg(t *testing.T, f *pt.Apps, name string) organization.Organization {
	t.Helper()
	o, err := f.Svc.Organizations.Organization(pt.As(pt.Root), name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestVariableSetGrants: applying a set changes workspaces' variables, so
// it needs update on each workspace (or on the organization's workspaces
// for a global set), besides the grant on the set.
func TestVariableSetGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewApps(t, db)
		ctx := pt.As(pt.User)
		if _, err := f.Svc.Variables.CreateVariableSet(ctx, "acme", variable.SetOptions{Name: new("s")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("create set without grant: %v", err)
		}
		if _, err := f.Svc.Variables.CreateVariableSet(context.Background(), "acme", variable.SetOptions{Name: new("s")}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("create set anonymously: %v", err)
		}
		f.Grants.Grant("runcred/orgs/acme/varsets", access.Create)
		if _, err := f.Svc.Variables.CreateVariableSet(ctx, "acme", variable.SetOptions{Name: new("g"), Global: new(true)}); !fail.Is(err, fail.Denied) {
			t.Errorf("create global set without update on every workspace: %v", err)
		}
		vs, err := f.Svc.Variables.CreateVariableSet(ctx, "acme", variable.SetOptions{Name: new("s")})
		if err != nil {
			t.Fatal(err)
		}
		set := "runcred/orgs/acme/varsets/" + vs.ID
		if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(ctx, vs.ID, []string{f.App.ID}); !fail.Is(err, fail.Denied) {
			t.Errorf("apply without update on the set: %v", err)
		}
		f.Grants.Grant(set, access.Update, access.Read)
		if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(ctx, vs.ID, []string{f.App.ID}); !fail.Is(err, fail.Denied) {
			t.Errorf("apply without update on the workspace: %v", err)
		}
		if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(pt.As(pt.Root), vs.ID, []string{f.OtherApp.ID}); !fail.Is(err, fail.Invalid) {
			t.Errorf("apply to another org's workspace: %v", err)
		}
		f.Grants.Grant("runcred/orgs/acme/workspaces/app", access.Update)
		if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(ctx, vs.ID, []string{f.App.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Variables.UpdateVariableSet(ctx, vs.ID, variable.SetOptions{Global: new(true)}); !fail.Is(err, fail.Denied) {
			t.Errorf("make global without update on every workspace: %v", err)
		}
		if got, err := f.Svc.Variables.VariableSet(ctx, vs.ID); err != nil || got.Global || len(got.Workspaces) != 1 {
			t.Errorf("set = %+v, %v", got, err)
		}

		// Variables of the set need grants on the set's vars paths.
		const secretValue = "set-secret-77"
		if _, err := f.Svc.Variables.CreateSetVariable(ctx, vs.ID, variable.Options{Key: new("k"), Value: new(secretValue), Category: new("env"), Sensitive: new(true)}); !fail.Is(err, fail.Denied) {
			t.Errorf("create set variable without grant: %v", err)
		}
		f.Grants.Grant(set+"/vars/k", access.Create, access.Read)
		v, err := f.Svc.Variables.CreateSetVariable(ctx, vs.ID, variable.Options{Key: new("k"), Value: new(secretValue), Category: new("env"), Sensitive: new(true)})
		if err != nil || v.Value != "" || v.VarsetID != vs.ID || v.WorkspaceID != "" {
			t.Fatalf("create set variable = %+v, %v", v, err)
		}
		if got, err := f.Svc.Variables.SetVariable(ctx, vs.ID, v.ID); err != nil || got.Value != "" || got.WrittenBy.ID != "acc-alice" {
			t.Errorf("read sensitive set variable = %+v, %v", got, err)
		}
		for name, call := range map[string]func() error{
			"list": func() error { _, err := f.Svc.Variables.SetVariables(ctx, vs.ID); return err },
			"update": func() error {
				_, err := f.Svc.Variables.UpdateSetVariable(ctx, vs.ID, v.ID, variable.Options{Value: new("x")})
				return err
			},
			"rename": func() error {
				f.Grants.Grant(set+"/vars/k", access.Update)
				defer delete(f.Grants, set+"/vars/k update")
				_, err := f.Svc.Variables.UpdateSetVariable(ctx, vs.ID, v.ID, variable.Options{Key: new("k2")})
				return err
			},
			"delete":     func() error { return f.Svc.Variables.DeleteSetVariable(ctx, vs.ID, v.ID) },
			"delete set": func() error { return f.Svc.Variables.DeleteVariableSet(ctx, vs.ID) },
		} {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without grant: %v", name, err)
			}
		}
		// Deleting the set takes delete on it and update on its workspaces.
		delete(f.Grants, "runcred/orgs/acme/workspaces/app update")
		f.Grants.Grant(set, access.Delete)
		if err := f.Svc.Variables.DeleteVariableSet(ctx, vs.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("delete applied set without update on its workspace: %v", err)
		}
		f.Grants.Grant("runcred/orgs/acme/workspaces/app", access.Update)
		if err := f.Svc.Variables.DeleteVariableSet(ctx, vs.ID); err != nil {
			t.Errorf("delete set: %v", err)
		}
	})
}

// TestSetValueBoundToItsSet: a sealed value moved to another set in the
// database fails to open instead of reaching that set's workspaces.
func TestSetValueBoundToItsSet(t *testing.T) {
	f := pt.NewApps(t, storetest.Open(t, storetest.SQLiteURL(t)))
	a := newSet(t, f, "acme", "a", false, map[string]string{"k": "v"})
	b := newSet(t, f, "acme", "b", true, nil)
	if err := f.Svc.Variables.ApplyVariableSetToWorkspaces(pt.As(pt.Root), a.ID, []string{f.App.ID}); err != nil {
		t.Fatal(err)
	}
	if rv, err := variable.NewRunInputs(f.Svc.Variables).FromSets(pt.As(pt.Root), f.App); err != nil || len(rv) != 1 {
		t.Fatalf("before tampering: %+v, %v", rv, err)
	}
	if _, err := f.DB.Exec(context.Background(), `UPDATE varset_variables SET varset_id = ?`, b.ID); err != nil {
		t.Fatal(err)
	}
	if rv, err := variable.NewRunInputs(f.Svc.Variables).FromSets(pt.As(pt.Root), f.App); err == nil {
		t.Errorf("a moved sealed value opened: %+v", rv)
	}
}
