package platform_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func (f *tokenFixture) set(t *testing.T, org, name string, global bool, vars map[string]string) variable.VariableSet {
	t.Helper()
	vs, err := f.svc.Variables.CreateVariableSet(as(root), org, variable.VariableSetOptions{Name: str(name), Global: &global})
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range vars {
		cat, k := "terraform", key
		if rest, ok := strings.CutPrefix(key, "env/"); ok {
			cat, k = "env", rest
		}
		if _, err := f.svc.Variables.CreateSetVariable(as(root), vs.ID, variable.VariableOptions{Key: str(k), Value: str(value), Category: str(cat), Sensitive: yes()}); err != nil {
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
		f := tokenSetup(t, db)
		prj, err := f.svc.Organizations.CreateProject(as(root), "acme", organization.ProjectOptions{Name: "team"})
		if err != nil {
			t.Fatal(err)
		}
		w, err := f.svc.Workspaces.CreateWorkspace(as(root), "acme", workspace.Options{Name: str("web"), ProjectID: &prj.ID})
		if err != nil {
			t.Fatal(err)
		}
		f.set(t, "acme", "b global", true, map[string]string{"region": "global-b", "only_b": "b", "tie": "b"})
		f.set(t, "acme", "a global", true, map[string]string{"tie": "a", "env/region": "env-global"})
		p := f.set(t, "acme", "project", false, map[string]string{"region": "project", "zone": "project"})
		ws := f.set(t, "acme", "z workspace", false, map[string]string{"zone": "workspace"})
		elsewhere := f.set(t, "acme", "0 elsewhere", false, map[string]string{"region": "elsewhere"})
		f.set(t, "other", "0 foreign global", true, map[string]string{"region": "foreign"})
		if err := f.svc.Variables.ApplyVariableSetToProjects(as(root), p.ID, []string{prj.ID}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Variables.ApplyVariableSetToWorkspaces(as(root), ws.ID, []string{w.ID}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Variables.ApplyVariableSetToWorkspaces(as(root), elsewhere.ID, []string{f.app.ID}); err != nil {
			t.Fatal(err)
		}
		rv, err := f.svc.SetVariablesFor(as(root), w)
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
		if w, err = f.svc.Workspaces.UpdateWorkspace(as(root), w.ID, workspace.Options{ProjectID: str(mustOrg(t, f, "acme").DefaultProjectID)}); err != nil {
			t.Fatal(err)
		}
		rv, err = f.svc.SetVariablesFor(as(root), w)
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

func mustOrg(t *testing.T, f *tokenFixture, name string) organization.Organization {
	t.Helper()
	o, err := f.svc.Organizations.Organization(as(root), name)
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
		f := tokenSetup(t, db)
		ctx := as(user)
		if _, err := f.svc.Variables.CreateVariableSet(ctx, "acme", variable.VariableSetOptions{Name: str("s")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("create set without grant: %v", err)
		}
		if _, err := f.svc.Variables.CreateVariableSet(context.Background(), "acme", variable.VariableSetOptions{Name: str("s")}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("create set anonymously: %v", err)
		}
		f.grant("runcred/orgs/acme/varsets", access.Create)
		if _, err := f.svc.Variables.CreateVariableSet(ctx, "acme", variable.VariableSetOptions{Name: str("g"), Global: yes()}); !fail.Is(err, fail.Denied) {
			t.Errorf("create global set without update on every workspace: %v", err)
		}
		vs, err := f.svc.Variables.CreateVariableSet(ctx, "acme", variable.VariableSetOptions{Name: str("s")})
		if err != nil {
			t.Fatal(err)
		}
		set := "runcred/orgs/acme/varsets/" + vs.ID
		if err := f.svc.Variables.ApplyVariableSetToWorkspaces(ctx, vs.ID, []string{f.app.ID}); !fail.Is(err, fail.Denied) {
			t.Errorf("apply without update on the set: %v", err)
		}
		f.grant(set, access.Update, access.Read)
		if err := f.svc.Variables.ApplyVariableSetToWorkspaces(ctx, vs.ID, []string{f.app.ID}); !fail.Is(err, fail.Denied) {
			t.Errorf("apply without update on the workspace: %v", err)
		}
		if err := f.svc.Variables.ApplyVariableSetToWorkspaces(as(root), vs.ID, []string{f.otherApp.ID}); !fail.Is(err, fail.Invalid) {
			t.Errorf("apply to another org's workspace: %v", err)
		}
		f.grant("runcred/orgs/acme/workspaces/app", access.Update)
		if err := f.svc.Variables.ApplyVariableSetToWorkspaces(ctx, vs.ID, []string{f.app.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Variables.UpdateVariableSet(ctx, vs.ID, variable.VariableSetOptions{Global: yes()}); !fail.Is(err, fail.Denied) {
			t.Errorf("make global without update on every workspace: %v", err)
		}
		if got, err := f.svc.Variables.VariableSet(ctx, vs.ID); err != nil || got.Global || len(got.Workspaces) != 1 {
			t.Errorf("set = %+v, %v", got, err)
		}

		// Variables of the set need grants on the set's vars paths.
		const secretValue = "set-secret-77"
		if _, err := f.svc.Variables.CreateSetVariable(ctx, vs.ID, variable.VariableOptions{Key: str("k"), Value: str(secretValue), Category: str("env"), Sensitive: yes()}); !fail.Is(err, fail.Denied) {
			t.Errorf("create set variable without grant: %v", err)
		}
		f.grant(set+"/vars/k", access.Create, access.Read)
		v, err := f.svc.Variables.CreateSetVariable(ctx, vs.ID, variable.VariableOptions{Key: str("k"), Value: str(secretValue), Category: str("env"), Sensitive: yes()})
		if err != nil || v.Value != "" || v.VarsetID != vs.ID || v.WorkspaceID != "" {
			t.Fatalf("create set variable = %+v, %v", v, err)
		}
		if got, err := f.svc.Variables.SetVariable(ctx, vs.ID, v.ID); err != nil || got.Value != "" || got.WrittenBy.ID != "acc-alice" {
			t.Errorf("read sensitive set variable = %+v, %v", got, err)
		}
		for name, call := range map[string]func() error{
			"list": func() error { _, err := f.svc.Variables.SetVariables(ctx, vs.ID); return err },
			"update": func() error {
				_, err := f.svc.Variables.UpdateSetVariable(ctx, vs.ID, v.ID, variable.VariableOptions{Value: str("x")})
				return err
			},
			"rename": func() error {
				f.grant(set+"/vars/k", access.Update)
				defer delete(f.g, set+"/vars/k update")
				_, err := f.svc.Variables.UpdateSetVariable(ctx, vs.ID, v.ID, variable.VariableOptions{Key: str("k2")})
				return err
			},
			"delete":     func() error { return f.svc.Variables.DeleteSetVariable(ctx, vs.ID, v.ID) },
			"delete set": func() error { return f.svc.Variables.DeleteVariableSet(ctx, vs.ID) },
		} {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without grant: %v", name, err)
			}
		}
		// Deleting the set takes delete on it and update on its workspaces.
		delete(f.g, "runcred/orgs/acme/workspaces/app update")
		f.grant(set, access.Delete)
		if err := f.svc.Variables.DeleteVariableSet(ctx, vs.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("delete applied set without update on its workspace: %v", err)
		}
		f.grant("runcred/orgs/acme/workspaces/app", access.Update)
		if err := f.svc.Variables.DeleteVariableSet(ctx, vs.ID); err != nil {
			t.Errorf("delete set: %v", err)
		}
	})
}

// TestSetValueBoundToItsSet: a sealed value moved to another set in the
// database fails to open instead of reaching that set's workspaces.
func TestSetValueBoundToItsSet(t *testing.T) {
	f := tokenSetup(t, storetest.Open(t, storetest.SQLiteURL(t)))
	a := f.set(t, "acme", "a", false, map[string]string{"k": "v"})
	b := f.set(t, "acme", "b", true, nil)
	if err := f.svc.Variables.ApplyVariableSetToWorkspaces(as(root), a.ID, []string{f.app.ID}); err != nil {
		t.Fatal(err)
	}
	if rv, err := f.svc.SetVariablesFor(as(root), f.app); err != nil || len(rv) != 1 {
		t.Fatalf("before tampering: %+v, %v", rv, err)
	}
	if _, err := f.db.Exec(context.Background(), `UPDATE varset_variables SET varset_id = ?`, b.ID); err != nil {
		t.Fatal(err)
	}
	if rv, err := f.svc.SetVariablesFor(as(root), f.app); err == nil {
		t.Errorf("a moved sealed value opened: %+v", rv)
	}
}
