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

// TestProvenance: every write records its writer, derived from the caller.
func TestProvenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		for path, caps := range map[string][]string{
			"runcred/orgs/acme/workspaces/operator/vars/role_id": {access.Create, access.Update},
		} {
			for _, c := range caps {
				f.Grants[path+" "+c] = true
			}
		}
		v, err := f.Svc.Variables.CreateVariable(pt.As(pt.User), f.Target.ID, variable.Options{Key: new("role_id"), Value: new("r1"), Category: new("terraform")})
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
			{pt.TeamOps, resource.Writer{Kind: resource.WriterTeam, ID: "team-Ops1", Name: "team-ops"}},
			{pt.Runner(f.Mgr.ID), resource.Writer{Kind: resource.WriterRun, ID: "run-Abc", Name: "run", WorkspaceID: f.Mgr.ID}},
		} {
			got, err := f.Svc.Variables.UpdateVariable(pt.As(tc.caller), f.Target.ID, v.ID, variable.Options{Value: new("r2")})
			if err != nil {
				t.Fatal(err)
			}
			if got.WrittenBy != tc.want {
				t.Errorf("provenance = %+v, want %+v", got.WrittenBy, tc.want)
			}
			// And it is what is stored, not just what was returned.
			read, err := f.Svc.Variables.Variable(pt.As(pt.Root), f.Target.ID, v.ID)
			if err != nil || read.WrittenBy != tc.want {
				t.Errorf("stored provenance = %+v, %v", read.WrittenBy, err)
			}
		}
		rv, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.Root), f.Target.ID)
		if err != nil || len(rv) != 1 || rv[0].WrittenBy.Kind != resource.WriterRun || rv[0].WrittenBy.WorkspaceID != f.Mgr.ID {
			t.Errorf("run variables provenance = %+v, %v", rv, err)
		}
	})
}

// TestManagingWorkspace: naming or clearing a variable's manager needs sudo
// on the variable, and the manager must be a workspace of the same org.
func TestManagingWorkspace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		const path = "runcred/orgs/acme/workspaces/operator/vars/secret_id"
		f.Grants[path+" create"], f.Grants[path+" update"] = true, true
		opts := variable.Options{Key: new("secret_id"), Value: new("s"), Category: new("terraform"), Sensitive: new(true), ManagingWorkspaceID: &f.Mgr.ID}
		if _, err := f.Svc.Variables.CreateVariable(pt.As(pt.User), f.Target.ID, opts); !fail.Is(err, fail.Denied) {
			t.Fatalf("create with manager but no sudo: %v", err)
		}
		f.Grants[path+" sudo"] = true
		v, err := f.Svc.Variables.CreateVariable(pt.As(pt.User), f.Target.ID, opts)
		if err != nil || v.ManagingWorkspaceID != f.Mgr.ID {
			t.Fatalf("create with manager = %+v, %v", v, err)
		}
		delete(f.Grants, path+" sudo")
		if _, err := f.Svc.Variables.UpdateVariable(pt.As(pt.User), f.Target.ID, v.ID, variable.Options{ManagingWorkspaceID: new("")}); !fail.Is(err, fail.Denied) {
			t.Errorf("clear manager without sudo: %v", err)
		}
		// A write that leaves the manager alone needs no sudo, and keeps it.
		got, err := f.Svc.Variables.UpdateVariable(pt.As(pt.User), f.Target.ID, v.ID, variable.Options{Value: new("s2")})
		if err != nil || got.ManagingWorkspaceID != f.Mgr.ID {
			t.Errorf("update value of managed var = %+v, %v", got, err)
		}
		other, err := f.Svc.Organizations.Create(pt.As(pt.Root), organization.Options{Name: "other", Email: "o@o.test"})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := f.Svc.Workspaces.Create(pt.As(pt.Root), other.Name, workspace.Options{Name: new("w")})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{foreign.ID, "ws-nothere", "junk"} {
			if _, err := f.Svc.Variables.UpdateVariable(pt.As(pt.Root), f.Target.ID, v.ID, variable.Options{ManagingWorkspaceID: new(bad)}); !fail.Is(err, fail.Invalid) {
				t.Errorf("manager %q: %v, want invalid", bad, err)
			}
		}
		got, err = f.Svc.Variables.UpdateVariable(pt.As(pt.Root), f.Target.ID, v.ID, variable.Options{ManagingWorkspaceID: new("")})
		if err != nil || got.ManagingWorkspaceID != "" {
			t.Errorf("clear manager as root = %+v, %v", got, err)
		}
	})
}

// TestRunVariablesNeedTheirOwnGrant: reading and listing variables never
// yields sensitive values; only read on run-variables does.
func TestRunVariablesNeedTheirOwnGrant(t *testing.T) {
	f := pt.NewOperator(t, storetest.Open(t, storetest.SQLiteURL(t)))
	const secretValue = "the-secret-value-91"
	v, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), f.Target.ID, variable.Options{Key: new("k"), Value: new(secretValue), Category: new("env"), Sensitive: new(true)})
	if err != nil {
		t.Fatal(err)
	}
	base := "runcred/orgs/acme/workspaces/operator"
	f.Grants[base+"/vars list"], f.Grants[base+"/vars/k read"], f.Grants[base+" read"] = true, true, true
	if _, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.User), f.Target.ID); !fail.Is(err, fail.Denied) {
		t.Errorf("run variables without grant: %v", err)
	}
	if _, err := f.Svc.Variables.WorkspaceVariables(context.Background(), f.Target.ID); !fail.Is(err, fail.Unauthenticated) {
		t.Errorf("run variables without caller: %v", err)
	}
	list, err := f.Svc.Variables.Variables(pt.As(pt.User), f.Target.ID)
	if err != nil || len(list) != 1 || list[0].Value != "" {
		t.Errorf("list = %+v, %v", list, err)
	}
	if got, err := f.Svc.Variables.Variable(pt.As(pt.User), f.Target.ID, v.ID); err != nil || got.Value != "" {
		t.Errorf("read = %+v, %v", got, err)
	}
	f.Grants[base+"/run-variables read"] = true
	rv, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.User), f.Target.ID)
	if err != nil || len(rv) != 1 || rv[0].Value.RevealString() != secretValue || !rv[0].Sensitive {
		t.Errorf("run variables = %+v, %v", rv, err)
	}
	// A variable of another workspace is not found through this one.
	if _, err := f.Svc.Variables.Variable(pt.As(pt.Root), f.Mgr.ID, v.ID); !fail.Is(err, fail.NotFound) {
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
			f := pt.NewOperator(t, storetest.Open(t, storetest.SQLiteURL(t)))
			if _, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), f.Target.ID, variable.Options{Key: new("k"), Value: new("v"), Category: new("terraform"), Sensitive: new(true)}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.Root), f.Target.ID); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			if _, err := f.DB.Exec(context.Background(), tamper); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.Root), f.Target.ID); err == nil {
				t.Error("a moved sealed value opened")
			}
		})
	}
}

// TestAuditRecordsWithoutValues: every variable write is audited, by whom,
// and no record holds a value.
func TestAuditRecordsWithoutValues(t *testing.T) {
	f := pt.NewOperator(t, storetest.Open(t, storetest.SQLiteURL(t)))
	const secretValue = "audit-must-not-see-this-42"
	v, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), f.Target.ID, variable.Options{Key: new("k"), Value: new(secretValue), Category: new("env"), Sensitive: new(true)})
	if err != nil {
		t.Fatal(err)
	}
	f.Grants["runcred/orgs/acme/workspaces/operator/vars/k update"] = true
	if _, err := f.Svc.Variables.UpdateVariable(pt.As(pt.Runner(f.Mgr.ID)), f.Target.ID, v.ID, variable.Options{Value: new(secretValue + "2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.Variables.WorkspaceVariables(pt.As(pt.Root), f.Target.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.Svc.Variables.DeleteVariable(pt.As(pt.Root), f.Target.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := f.DB.Query(context.Background(), `SELECT type, body FROM audit_log ORDER BY seq`)
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
