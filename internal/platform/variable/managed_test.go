package variable_test

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestManagedVariables: a variable a run of another workspace writes is
// managed by that workspace; under the organization's "policy" setting
// others may still write it, under "locked" only the manager's runs (and
// whoever may change its manager) may change or delete it, each refusal
// naming the variable and its manager. Sensitive values stay hidden from
// the manager too.
func TestManagedVariables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		for _, key := range []string{"role_id", "secret_id", "own"} {
			f.Grants.Grant(resource.VarPath("acme", "operator", key), access.Create, access.Read, access.Update, access.Delete)
		}
		mgr, team, self := pt.As(pt.Runner(f.Mgr.ID)), pt.As(pt.TeamOps), pt.As(pt.Runner(f.Target.ID))
		v, err := f.Svc.Variables.CreateVariable(mgr, f.Target.ID, variable.Options{Key: new("role_id"), Value: new("r1"), Category: new("terraform")})
		if err != nil {
			t.Fatal(err)
		}
		if v.ManagingWorkspaceID != f.Mgr.ID {
			t.Fatalf("managing workspace = %q, want the writing run's %s", v.ManagingWorkspaceID, f.Mgr.ID)
		}
		own, err := f.Svc.Variables.CreateVariable(self, f.Target.ID, variable.Options{Key: new("own"), Value: new("o"), Category: new("terraform")})
		if err != nil || own.ManagingWorkspaceID != "" {
			t.Fatalf("a run's write in its own workspace: manager %q, %v; want none", own.ManagingWorkspaceID, err)
		}
		sec, err := f.Svc.Variables.CreateVariable(mgr, f.Target.ID, variable.Options{Key: new("secret_id"), Value: new("s3cret-id"),
			Category: new("terraform"), Sensitive: new(true)})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.Svc.Variables.Variable(mgr, f.Target.ID, sec.ID); err != nil || got.Value != "" || got.ManagingWorkspaceID != f.Mgr.ID {
			t.Errorf("the manager reads its sensitive variable as %+v, %v; want no value", got, err)
		}

		// "policy" (the default): others write it; it stays managed, so the
		// protected-variables policy sees who wrote it last.
		got, err := f.Svc.Variables.UpdateVariable(team, f.Target.ID, v.ID, variable.Options{Value: new("r2")})
		if err != nil || got.ManagingWorkspaceID != f.Mgr.ID || got.WrittenBy.Kind != resource.WriterTeam {
			t.Fatalf("team write under policy = %+v, %v", got, err)
		}

		// "locked": refused to everyone but the manager's runs.
		if _, err := f.Svc.Organizations.Update(pt.As(pt.Root), "acme", organization.Options{ManagedVariables: "bogus"}); !fail.Is(err, fail.Invalid) {
			t.Errorf("managed-variables bogus: %v, want invalid", err)
		}
		o, err := f.Svc.Organizations.Update(pt.As(pt.Root), "acme", organization.Options{ManagedVariables: organization.ManagedLocked})
		if err != nil || o.ManagedVariables != organization.ManagedLocked {
			t.Fatalf("locking = %+v, %v", o, err)
		}
		for name, err := range map[string]error{
			"team update": func() error {
				_, err := f.Svc.Variables.UpdateVariable(team, f.Target.ID, v.ID, variable.Options{Value: new("r3")})
				return err
			}(),
			"team delete": f.Svc.Variables.DeleteVariable(team, f.Target.ID, v.ID),
			"other run": func() error {
				_, err := f.Svc.Variables.UpdateVariable(self, f.Target.ID, v.ID, variable.Options{Value: new("r3")})
				return err
			}(),
			"team rename": func() error {
				_, err := f.Svc.Variables.UpdateVariable(team, f.Target.ID, v.ID, variable.Options{Key: new("own2")})
				return err
			}(),
			"sensitive": func() error {
				_, err := f.Svc.Variables.UpdateVariable(team, f.Target.ID, sec.ID, variable.Options{Value: new("x")})
				return err
			}(),
		} {
			if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), `managed by workspace "manager"`) || !strings.Contains(err.Error(), "locks managed variables") {
				t.Errorf("%s of a locked variable: %v, want a refusal naming its manager", name, err)
			}
		}
		if got, err := f.Svc.Variables.Variable(pt.As(pt.Root), f.Target.ID, v.ID); err != nil || got.Value != "r2" {
			t.Errorf("after the refusals = %+v, %v; want r2 kept", got, err)
		}
		if got, err := f.Svc.Variables.UpdateVariable(mgr, f.Target.ID, v.ID, variable.Options{Value: new("r4")}); err != nil || got.WrittenBy.Kind != resource.WriterRun {
			t.Errorf("the manager's run under lock = %+v, %v", got, err)
		}
		// An unmanaged variable is not held.
		if _, err := f.Svc.Variables.UpdateVariable(team, f.Target.ID, own.ID, variable.Options{Value: new("o2")}); err != nil {
			t.Errorf("unmanaged variable under lock: %v", err)
		}
		// Who may change the manager (sudo on the variable) is not held.
		f.Grants.Grant(resource.VarPath("acme", "operator", "role_id"), access.Sudo)
		if _, err := f.Svc.Variables.UpdateVariable(team, f.Target.ID, v.ID, variable.Options{Value: new("r5")}); err != nil {
			t.Errorf("sudo holder under lock: %v", err)
		}
		if err := f.Svc.Variables.DeleteVariable(mgr, f.Target.ID, sec.ID); err != nil {
			t.Errorf("the manager deletes its variable: %v", err)
		}
	})
}
