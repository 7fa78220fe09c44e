package api_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func varsetNames(l *tfe.VariableSetList) []string {
	var out []string
	for _, v := range l.Items {
		out = append(out, v.Name)
	}
	return out
}

func workspaceIDs(ws []*tfe.Workspace) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.ID)
	}
	slices.Sort(out)
	return out
}

// TestGoTFEVariableSets drives variable sets and their variables with go-tfe.
func TestGoTFEVariableSets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		mustOrg(t, ctx, c, "other")
		prj, err := c.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "team"})
		if err != nil {
			t.Fatal(err)
		}
		app, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		web, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("web"), Project: &tfe.Project{ID: prj.ID}})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := c.Workspaces.Create(ctx, "other", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
		if err != nil {
			t.Fatal(err)
		}

		vs, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{
			Name: tfe.String("aws creds"), Description: tfe.String("shared"), Global: tfe.Bool(false),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(vs.ID, "varset-") || vs.Name != "aws creds" || vs.Description != "shared" || vs.Global || vs.Priority ||
			vs.Organization == nil || vs.Organization.Name != "acme" || vs.Parent == nil || vs.Parent.Organization == nil ||
			vs.Parent.Organization.Name != "acme" || len(vs.Workspaces) != 0 {
			t.Fatalf("created varset = %+v", vs)
		}
		global, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("defaults"), Global: tfe.Bool(true)})
		if err != nil || !global.Global {
			t.Fatalf("global varset = %+v, %v", global, err)
		}
		for _, tc := range []struct {
			opts tfe.VariableSetCreateOptions
			want string
		}{
			{tfe.VariableSetCreateOptions{Name: tfe.String("aws creds"), Global: tfe.Bool(false)}, "already exists"},
			{tfe.VariableSetCreateOptions{Name: tfe.String("p"), Global: tfe.Bool(false), Priority: tfe.Bool(true)}, "priority variable sets are not supported"},
			{tfe.VariableSetCreateOptions{Name: tfe.String("p"), Global: tfe.Bool(false), Parent: &tfe.Parent{Project: &tfe.Project{ID: prj.ID}}}, "owned by a project"},
			{tfe.VariableSetCreateOptions{Name: tfe.String("p"), Global: tfe.Bool(false), Parent: &tfe.Parent{Organization: &tfe.Organization{Name: "other"}}}, "parent must be the organization"},
			{tfe.VariableSetCreateOptions{Name: tfe.String("bad\nname"), Global: tfe.Bool(false)}, "printable"},
		} {
			if _, err := c.VariableSets.Create(ctx, "acme", &tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create %s: %v, want %q", *tc.opts.Name, err, tc.want)
			}
		}

		// Variables: values sealed, sensitive ones write-only, provenance kept.
		region, err := c.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{
			Key: tfe.String("region"), Value: tfe.String("eu-west-1"), Category: tfe.Category(tfe.CategoryTerraform),
		})
		if err != nil || region.Value != "eu-west-1" || region.VariableSet == nil || region.VariableSet.ID != vs.ID || region.VersionID == "" {
			t.Fatalf("create set variable = %+v, %v", region, err)
		}
		secret, err := c.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{
			Key: tfe.String("AWS_SECRET_ACCESS_KEY"), Value: tfe.String("s3cr3t"), Category: tfe.Category(tfe.CategoryEnv), Sensitive: tfe.Bool(true),
		})
		if err != nil || secret.Value != "" || !secret.Sensitive {
			t.Fatalf("create sensitive set variable = %+v, %v", secret, err)
		}
		if got, err := c.VariableSetVariables.Read(ctx, vs.ID, secret.ID); err != nil || got.Value != "" || got.Key != "AWS_SECRET_ACCESS_KEY" {
			t.Fatalf("read sensitive set variable = %+v, %v", got, err)
		}
		if _, err := c.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{
			Key: tfe.String("region"), Value: tfe.String("x"), Category: tfe.Category(tfe.CategoryTerraform),
		}); err == nil || !strings.Contains(err.Error(), "already exists in variable set") {
			t.Errorf("duplicate set variable: %v", err)
		}
		if _, err := c.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{
			Key: tfe.String("bad-env"), Category: tfe.Category(tfe.CategoryEnv),
		}); err == nil || !strings.Contains(err.Error(), "environment variable key") {
			t.Errorf("bad env key: %v", err)
		}
		attrs := rawAttributes(t, e.url+"/api/v2/varsets/"+vs.ID+"/relationships/vars/"+secret.ID)
		if attrs["written-by-kind"] != "user" || attrs["written-by-id"] != "acc-root" || attrs["value"] != "" {
			t.Errorf("set variable provenance = %v", attrs)
		}
		upd, err := c.VariableSetVariables.Update(ctx, vs.ID, region.ID, &tfe.VariableSetVariableUpdateOptions{Value: tfe.String("us-east-2"), HCL: tfe.Bool(true)})
		if err != nil || upd.Value != "us-east-2" || !upd.HCL || upd.VersionID == region.VersionID {
			t.Fatalf("update set variable = %+v, %v", upd, err)
		}
		if u, err := c.VariableSetVariables.Update(ctx, vs.ID, secret.ID, &tfe.VariableSetVariableUpdateOptions{Value: tfe.String("s3cr3t-1")}); err != nil || u.Value != "" || !u.Sensitive {
			t.Fatalf("update sensitive set variable = %+v, %v", u, err)
		}
		patchSensitive(t, e.url+"/api/v2/varsets/"+vs.ID+"/relationships/vars/"+secret.ID, secret.ID, "s3cr3t-2")
		if _, err := c.VariableSetVariables.Update(ctx, vs.ID, secret.ID, &tfe.VariableSetVariableUpdateOptions{Sensitive: tfe.Bool(false)}); err == nil ||
			!strings.Contains(err.Error(), "cannot be made non-sensitive") {
			t.Errorf("unsensitive: %v", err)
		}
		vl, err := c.VariableSetVariables.List(ctx, vs.ID, nil)
		if err != nil || len(vl.Items) != 2 {
			t.Fatalf("list set variables = %+v, %v", vl, err)
		}
		if code, b := sendRaw(t, "POST", e.url+"/api/v2/varsets/"+vs.ID+"/relationships/vars", "root-token",
			`{"data":{"type":"vars","attributes":{"key":"k","category":"env","managing-workspace-id":"`+app.ID+`"}}}`); code != 422 ||
			!strings.Contains(b, "no managing workspace") {
			t.Errorf("managed set variable = %d %s", code, b)
		}
		if got, err := c.VariableSets.Read(ctx, vs.ID, nil); err != nil || len(got.Variables) != 2 {
			t.Errorf("read varset vars relation = %+v, %v", got, err)
		}

		// Applying to workspaces and projects.
		if err := c.VariableSets.ApplyToWorkspaces(ctx, vs.ID, &tfe.VariableSetApplyToWorkspacesOptions{Workspaces: []*tfe.Workspace{app}}); err != nil {
			t.Fatal(err)
		}
		if err := c.VariableSets.ApplyToWorkspaces(ctx, vs.ID, &tfe.VariableSetApplyToWorkspacesOptions{Workspaces: []*tfe.Workspace{app}}); err != nil {
			t.Errorf("applying twice: %v", err)
		}
		if err := c.VariableSets.ApplyToWorkspaces(ctx, vs.ID, &tfe.VariableSetApplyToWorkspacesOptions{Workspaces: []*tfe.Workspace{foreign}}); err == nil ||
			!strings.Contains(err.Error(), "is not a workspace of organization") {
			t.Errorf("apply to another org's workspace: %v", err)
		}
		only, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("project only"), Global: tfe.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.VariableSets.ApplyToProjects(ctx, only.ID, tfe.VariableSetApplyToProjectsOptions{Projects: []*tfe.Project{prj}}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			ws   string
			want []string
		}{
			{app.ID, []string{"aws creds", "defaults"}},
			{web.ID, []string{"defaults", "project only"}},
		} {
			l, err := c.VariableSets.ListForWorkspace(ctx, tc.ws, nil)
			if err != nil || !slices.Equal(varsetNames(l), tc.want) {
				t.Errorf("sets of %s = %v, %v; want %v", tc.ws, varsetNames(l), err, tc.want)
			}
		}
		if l, err := c.VariableSets.ListForProject(ctx, prj.ID, nil); err != nil || !slices.Equal(varsetNames(l), []string{"project only"}) {
			t.Errorf("sets of project = %v, %v", varsetNames(l), err)
		}
		if l, err := c.VariableSets.List(ctx, "acme", &tfe.VariableSetListOptions{Query: "proj"}); err != nil || !slices.Equal(varsetNames(l), []string{"project only"}) {
			t.Errorf("search sets = %v, %v", varsetNames(l), err)
		}
		if err := c.VariableSets.RemoveFromProjects(ctx, only.ID, tfe.VariableSetRemoveFromProjectsOptions{Projects: []*tfe.Project{prj}}); err != nil {
			t.Fatal(err)
		}
		if got, err := c.VariableSets.Read(ctx, only.ID, nil); err != nil || len(got.Projects) != 0 {
			t.Errorf("set after removal from project = %+v, %v", got, err)
		}

		// UpdateWorkspaces replaces the list; RemoveFromWorkspaces removes.
		got, err := c.VariableSets.UpdateWorkspaces(ctx, vs.ID, &tfe.VariableSetUpdateWorkspacesOptions{Workspaces: []*tfe.Workspace{web}})
		if err != nil || !slices.Equal(workspaceIDs(got.Workspaces), []string{web.ID}) {
			t.Fatalf("update workspaces = %+v, %v", got, err)
		}
		if err := c.VariableSets.RemoveFromWorkspaces(ctx, vs.ID, &tfe.VariableSetRemoveFromWorkspacesOptions{Workspaces: []*tfe.Workspace{web}}); err != nil {
			t.Fatal(err)
		}
		if got, err := c.VariableSets.Read(ctx, vs.ID, nil); err != nil || len(got.Workspaces) != 0 {
			t.Errorf("set after removal = %+v, %v", got, err)
		}
		renamed, err := c.VariableSets.Update(ctx, vs.ID, &tfe.VariableSetUpdateOptions{Name: tfe.String("aws"), Global: tfe.Bool(true)})
		if err != nil || renamed.Name != "aws" || !renamed.Global || renamed.Description != "shared" {
			t.Fatalf("update varset = %+v, %v", renamed, err)
		}
		if code, b := sendRaw(t, "POST", e.url+"/api/v2/varsets/"+vs.ID+"/relationships/workspaces", "root-token",
			`{"data":[{"type":"projects","id":"`+prj.ID+`"}]}`); code != 400 || !strings.Contains(b, "only workspaces") {
			t.Errorf("wrong relationship type = %d %s", code, b)
		}

		// Deletes.
		if err := c.VariableSetVariables.Delete(ctx, vs.ID, region.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.VariableSetVariables.Read(ctx, vs.ID, region.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted set variable: %v", err)
		}
		if _, err := c.VariableSetVariables.Read(ctx, global.ID, secret.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read a variable through another set: %v", err)
		}
		if err := c.VariableSets.Delete(ctx, vs.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.VariableSets.Read(ctx, vs.ID, nil); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted varset: %v", err)
		}
		if _, err := c.VariableSetVariables.Read(ctx, vs.ID, secret.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read variable of deleted varset: %v", err)
		}
	})
}

// TestVariableSetDenials: anonymous callers get 401, denied ones 404, and
// nothing they try takes effect.
func TestVariableSetDenials(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)))
	ctx := ctxT(t)
	root := e.client(t, "root-token")
	mustOrg(t, ctx, root, "acme")
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := root.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("s"), Global: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := root.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{Key: tfe.String("k"), Value: tfe.String("v"), Category: tfe.Category(tfe.CategoryEnv)})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(c *tfe.Client) error{
		"list sets": func(c *tfe.Client) error { _, err := c.VariableSets.List(ctx, "acme", nil); return err },
		"create set": func(c *tfe.Client) error {
			_, err := c.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("x"), Global: tfe.Bool(true)})
			return err
		},
		"read set": func(c *tfe.Client) error { _, err := c.VariableSets.Read(ctx, vs.ID, nil); return err },
		"update set": func(c *tfe.Client) error {
			_, err := c.VariableSets.Update(ctx, vs.ID, &tfe.VariableSetUpdateOptions{Global: tfe.Bool(true)})
			return err
		},
		"delete set": func(c *tfe.Client) error { return c.VariableSets.Delete(ctx, vs.ID) },
		"apply": func(c *tfe.Client) error {
			return c.VariableSets.ApplyToWorkspaces(ctx, vs.ID, &tfe.VariableSetApplyToWorkspacesOptions{Workspaces: []*tfe.Workspace{ws}})
		},
		"sets of workspace": func(c *tfe.Client) error { _, err := c.VariableSets.ListForWorkspace(ctx, ws.ID, nil); return err },
		"list vars":         func(c *tfe.Client) error { _, err := c.VariableSetVariables.List(ctx, vs.ID, nil); return err },
		"read var":          func(c *tfe.Client) error { _, err := c.VariableSetVariables.Read(ctx, vs.ID, v.ID); return err },
		"create var": func(c *tfe.Client) error {
			_, err := c.VariableSetVariables.Create(ctx, vs.ID, &tfe.VariableSetVariableCreateOptions{Key: tfe.String("n"), Category: tfe.Category(tfe.CategoryEnv)})
			return err
		},
		"update var": func(c *tfe.Client) error {
			_, err := c.VariableSetVariables.Update(ctx, vs.ID, v.ID, &tfe.VariableSetVariableUpdateOptions{Value: tfe.String("x")})
			return err
		},
		"delete var": func(c *tfe.Client) error { return c.VariableSetVariables.Delete(ctx, vs.ID, v.ID) },
	}
	anon, user := e.client(t, "unknown-token"), e.client(t, "user-token")
	for name, call := range calls {
		if err := call(anon); !errors.Is(err, tfe.ErrUnauthorized) {
			t.Errorf("anonymous %s: %v, want ErrUnauthorized", name, err)
		}
		if err := call(user); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("denied %s: %v, want ErrResourceNotFound", name, err)
		}
	}
	got, err := root.VariableSets.Read(ctx, vs.ID, nil)
	if err != nil || got.Global || len(got.Workspaces) != 0 || len(got.Variables) != 1 {
		t.Errorf("set after denied calls = %+v, %v", got, err)
	}
	if gv, err := root.VariableSetVariables.Read(ctx, vs.ID, v.ID); err != nil || gv.Value != "v" {
		t.Errorf("variable after denied calls = %+v, %v", gv, err)
	}
}
