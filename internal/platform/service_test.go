package platform_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// grants is an authorizer for tests: root may do anything, anyone else
// exactly the "path capability" pairs listed.
type grants map[string]bool

func (g grants) Authorize(ctx context.Context, path, capability string) error {
	c, ok := access.CallerFrom(ctx)
	if !ok {
		return fail.Unauthenticatedf("missing client token")
	}
	if c.IsRoot() || g[path+" "+capability] {
		return nil
	}
	return fail.Deniedf("permission denied")
}

var (
	root    = access.Caller{Accessor: "acc-root", DisplayName: "root", Policies: []string{"root"}}
	user    = access.Caller{Accessor: "acc-alice", DisplayName: "alice", Policies: []string{"ops"}}
	teamOps = access.Caller{Accessor: "acc-team", DisplayName: "team-ops", Policies: []string{"ops"}, Meta: map[string]string{resource.MetaTeamID: "team-Ops1"}}
	runner  = func(wsID string) access.Caller {
		return access.Caller{Accessor: "acc-run", DisplayName: "run", Policies: []string{"ops"},
			Meta: map[string]string{resource.MetaRunID: "run-Abc", resource.MetaWorkspaceID: wsID}}
	}
)

func as(c access.Caller) context.Context { return access.WithCaller(context.Background(), c) }

type fixture struct {
	svc    *platform.Service
	db     *store.DB
	g      grants
	target workspace.Workspace // the operator workspace
	mgr    workspace.Workspace // the manager workspace
	clock  *clocktest.Clock    // the service's; starts at the real time
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	rk, err := seal.ParseRootKey([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(context.Background(), db, rk)
	if err != nil {
		t.Fatal(err)
	}
	g := grants{}
	clock := clocktest.New(time.Now())
	f := &fixture{db: db, g: g, clock: clock, svc: platform.New(platform.Config{DB: db, Seal: sl,
		Audit: audit.New(db, secret.FromString("k"), nil), Authz: g, Now: clock.Now, Tokens: platformtest.NewTokens()})}
	ctx := as(root)
	if _, err := f.svc.Organizations.CreateOrganization(ctx, organization.Options{Name: "acme", Email: "a@acme.test"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*workspace.Workspace{&f.target, &f.mgr} {
		name := "operator"
		if p == &f.mgr {
			name = "manager"
		}
		if *p, err = f.svc.Workspaces.CreateWorkspace(ctx, "acme", workspace.Options{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func str(s string) *string { return &s }
func yes() *bool           { b := true; return &b }

// TestProvenance: every write records its writer, derived from the caller.
func TestProvenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		for path, caps := range map[string][]string{
			"runcred/orgs/acme/workspaces/operator/vars/role_id": {access.Create, access.Update},
		} {
			for _, c := range caps {
				f.g[path+" "+c] = true
			}
		}
		v, err := f.svc.Variables.CreateVariable(as(user), f.target.ID, variable.VariableOptions{Key: str("role_id"), Value: str("r1"), Category: str("terraform")})
		if err != nil {
			t.Fatal(err)
		}
		want := resource.Writer{Kind: resource.WriterUser, ID: "acc-alice", Name: "alice"}
		if v.WrittenBy != want || v.WrittenAt.IsZero() {
			t.Errorf("user write provenance = %+v", v.WrittenBy)
		}
		for _, tc := range []struct {
			caller access.Caller
			want   resource.Writer
		}{
			{teamOps, resource.Writer{Kind: resource.WriterTeam, ID: "team-Ops1", Name: "team-ops"}},
			{runner(f.mgr.ID), resource.Writer{Kind: resource.WriterRun, ID: "run-Abc", Name: "run", WorkspaceID: f.mgr.ID}},
		} {
			got, err := f.svc.Variables.UpdateVariable(as(tc.caller), f.target.ID, v.ID, variable.VariableOptions{Value: str("r2")})
			if err != nil {
				t.Fatal(err)
			}
			if got.WrittenBy != tc.want {
				t.Errorf("provenance = %+v, want %+v", got.WrittenBy, tc.want)
			}
			// And it is what is stored, not just what was returned.
			read, err := f.svc.Variables.Variable(as(root), f.target.ID, v.ID)
			if err != nil || read.WrittenBy != tc.want {
				t.Errorf("stored provenance = %+v, %v", read.WrittenBy, err)
			}
		}
		rv, err := f.svc.Variables.WorkspaceVariables(as(root), f.target.ID)
		if err != nil || len(rv) != 1 || rv[0].WrittenBy.Kind != resource.WriterRun || rv[0].WrittenBy.WorkspaceID != f.mgr.ID {
			t.Errorf("run variables provenance = %+v, %v", rv, err)
		}
	})
}

// TestManagingWorkspace: naming or clearing a variable's manager needs sudo
// on the variable, and the manager must be a workspace of the same org.
func TestManagingWorkspace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		const path = "runcred/orgs/acme/workspaces/operator/vars/secret_id"
		f.g[path+" create"], f.g[path+" update"] = true, true
		opts := variable.VariableOptions{Key: str("secret_id"), Value: str("s"), Category: str("terraform"), Sensitive: yes(), ManagingWorkspaceID: &f.mgr.ID}
		if _, err := f.svc.Variables.CreateVariable(as(user), f.target.ID, opts); !fail.Is(err, fail.Denied) {
			t.Fatalf("create with manager but no sudo: %v", err)
		}
		f.g[path+" sudo"] = true
		v, err := f.svc.Variables.CreateVariable(as(user), f.target.ID, opts)
		if err != nil || v.ManagingWorkspaceID != f.mgr.ID {
			t.Fatalf("create with manager = %+v, %v", v, err)
		}
		delete(f.g, path+" sudo")
		if _, err := f.svc.Variables.UpdateVariable(as(user), f.target.ID, v.ID, variable.VariableOptions{ManagingWorkspaceID: str("")}); !fail.Is(err, fail.Denied) {
			t.Errorf("clear manager without sudo: %v", err)
		}
		// A write that leaves the manager alone needs no sudo, and keeps it.
		got, err := f.svc.Variables.UpdateVariable(as(user), f.target.ID, v.ID, variable.VariableOptions{Value: str("s2")})
		if err != nil || got.ManagingWorkspaceID != f.mgr.ID {
			t.Errorf("update value of managed var = %+v, %v", got, err)
		}
		other, err := f.svc.Organizations.CreateOrganization(as(root), organization.Options{Name: "other", Email: "o@o.test"})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := f.svc.Workspaces.CreateWorkspace(as(root), other.Name, workspace.Options{Name: str("w")})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{foreign.ID, "ws-nothere", "junk"} {
			if _, err := f.svc.Variables.UpdateVariable(as(root), f.target.ID, v.ID, variable.VariableOptions{ManagingWorkspaceID: str(bad)}); !fail.Is(err, fail.Invalid) {
				t.Errorf("manager %q: %v, want invalid", bad, err)
			}
		}
		got, err = f.svc.Variables.UpdateVariable(as(root), f.target.ID, v.ID, variable.VariableOptions{ManagingWorkspaceID: str("")})
		if err != nil || got.ManagingWorkspaceID != "" {
			t.Errorf("clear manager as root = %+v, %v", got, err)
		}
	})
}

// TestRunVariablesNeedTheirOwnGrant: reading and listing variables never
// yields sensitive values; only read on run-variables does.
func TestRunVariablesNeedTheirOwnGrant(t *testing.T) {
	f := setup(t, storetest.Open(t, storetest.SQLiteURL(t)))
	const secretValue = "the-secret-value-91"
	v, err := f.svc.Variables.CreateVariable(as(root), f.target.ID, variable.VariableOptions{Key: str("k"), Value: str(secretValue), Category: str("env"), Sensitive: yes()})
	if err != nil {
		t.Fatal(err)
	}
	base := "runcred/orgs/acme/workspaces/operator"
	f.g[base+"/vars list"], f.g[base+"/vars/k read"], f.g[base+" read"] = true, true, true
	if _, err := f.svc.Variables.WorkspaceVariables(as(user), f.target.ID); !fail.Is(err, fail.Denied) {
		t.Errorf("run variables without grant: %v", err)
	}
	if _, err := f.svc.Variables.WorkspaceVariables(context.Background(), f.target.ID); !fail.Is(err, fail.Unauthenticated) {
		t.Errorf("run variables without caller: %v", err)
	}
	list, err := f.svc.Variables.Variables(as(user), f.target.ID)
	if err != nil || len(list) != 1 || list[0].Value != "" {
		t.Errorf("list = %+v, %v", list, err)
	}
	if got, err := f.svc.Variables.Variable(as(user), f.target.ID, v.ID); err != nil || got.Value != "" {
		t.Errorf("read = %+v, %v", got, err)
	}
	f.g[base+"/run-variables read"] = true
	rv, err := f.svc.Variables.WorkspaceVariables(as(user), f.target.ID)
	if err != nil || len(rv) != 1 || rv[0].Value.RevealString() != secretValue || !rv[0].Sensitive {
		t.Errorf("run variables = %+v, %v", rv, err)
	}
	// A variable of another workspace is not found through this one.
	if _, err := f.svc.Variables.Variable(as(root), f.mgr.ID, v.ID); !fail.Is(err, fail.NotFound) {
		t.Errorf("variable through another workspace: %v", err)
	}
}

// TestSealedValueBoundToItsRow: a sealed value moved to another key or
// workspace in the database fails to open instead of reaching a run.
func TestSealedValueBoundToItsRow(t *testing.T) {
	for _, tamper := range []string{
		`UPDATE workspace_variables SET key = 'other'`,
		`UPDATE workspace_variables SET category = 'env'`,
	} {
		t.Run(tamper, func(t *testing.T) {
			f := setup(t, storetest.Open(t, storetest.SQLiteURL(t)))
			if _, err := f.svc.Variables.CreateVariable(as(root), f.target.ID, variable.VariableOptions{Key: str("k"), Value: str("v"), Category: str("terraform"), Sensitive: yes()}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Variables.WorkspaceVariables(as(root), f.target.ID); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			if _, err := f.db.Exec(context.Background(), tamper); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Variables.WorkspaceVariables(as(root), f.target.ID); err == nil {
				t.Error("a moved sealed value opened")
			}
		})
	}
}

// TestAuditRecordsWithoutValues: every variable write is audited, by whom,
// and no record holds a value.
func TestAuditRecordsWithoutValues(t *testing.T) {
	f := setup(t, storetest.Open(t, storetest.SQLiteURL(t)))
	const secretValue = "audit-must-not-see-this-42"
	v, err := f.svc.Variables.CreateVariable(as(root), f.target.ID, variable.VariableOptions{Key: str("k"), Value: str(secretValue), Category: str("env"), Sensitive: yes()})
	if err != nil {
		t.Fatal(err)
	}
	f.g["runcred/orgs/acme/workspaces/operator/vars/k update"] = true
	if _, err := f.svc.Variables.UpdateVariable(as(runner(f.mgr.ID)), f.target.ID, v.ID, variable.VariableOptions{Value: str(secretValue + "2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Variables.WorkspaceVariables(as(root), f.target.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Variables.DeleteVariable(as(root), f.target.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := f.db.Query(context.Background(), `SELECT type, body FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var typ, body string
		if err := rows.Scan(&typ, &body); err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
		if strings.Contains(body, secretValue) {
			t.Errorf("audit record %s holds the value: %s", typ, body)
		}
		if typ == "platform.variable.update" && !strings.Contains(body, `"kind":"run"`) {
			t.Errorf("update record does not name the run: %s", body)
		}
	}
	got := strings.Join(types, ",")
	for _, want := range []string{"platform.variable.create", "platform.variable.update", "platform.variables.read", "platform.variable.delete"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit types %s lack %s", got, want)
		}
	}
}

// TestWorkspaceMovesNeedProjectGrant: the project name is in every token,
// so creating into or moving to a project needs update on it, and renaming
// needs create on the new name.
func TestWorkspaceMovesNeedProjectGrant(t *testing.T) {
	f := setup(t, storetest.Open(t, storetest.SQLiteURL(t)))
	prod, err := f.svc.Organizations.CreateProject(as(root), "acme", organization.ProjectOptions{Name: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	f.g["runcred/orgs/acme/workspaces/operator update"] = true
	f.g["runcred/orgs/acme/workspaces/new create"] = true
	if _, err := f.svc.Workspaces.UpdateWorkspace(as(user), f.target.ID, workspace.Options{ProjectID: &prod.ID}); !fail.Is(err, fail.Denied) {
		t.Errorf("move without project grant: %v", err)
	}
	if _, err := f.svc.Workspaces.CreateWorkspace(as(user), "acme", workspace.Options{Name: str("new"), ProjectID: &prod.ID}); !fail.Is(err, fail.Denied) {
		t.Errorf("create into project without grant: %v", err)
	}
	if _, err := f.svc.Workspaces.UpdateWorkspace(as(user), f.target.ID, workspace.Options{Name: str("renamed")}); !fail.Is(err, fail.Denied) {
		t.Errorf("rename without create on the new name: %v", err)
	}
	f.g["runcred/orgs/acme/projects/prod update"] = true
	w, err := f.svc.Workspaces.UpdateWorkspace(as(user), f.target.ID, workspace.Options{ProjectID: &prod.ID})
	if err != nil || w.ProjectID != prod.ID {
		t.Errorf("move with grant = %+v, %v", w, err)
	}
	if _, err := f.svc.Workspaces.CreateWorkspace(as(user), "acme", workspace.Options{Name: str("new"), ProjectID: &prod.ID}); err != nil {
		t.Errorf("create into project with grant: %v", err)
	}
}
