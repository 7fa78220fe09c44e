package runtrigger_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/runtrigger"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func newWorkspace(t *testing.T, f *pt.Operator, org, name string) workspace.Workspace {
	t.Helper()
	w, err := f.Svc.Workspaces.Create(pt.As(pt.Root), org, workspace.Options{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func ids(ts []runtrigger.Trigger) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.SourceableName+">"+t.WorkspaceName)
	}
	return out
}

// TestRunTriggers: create, read, list both ways, delete; and every refusal
// of create: itself, twice, a cycle (named), another organization's
// workspace, more than 20 sources.
func TestRunTriggers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		a, b := f.Mgr, f.Target // manager → operator
		c := newWorkspace(t, f, "acme", "c")

		ab, err := f.Svc.RunTriggers.Create(ctx, b.ID, a.ID)
		if err != nil || !resource.ValidID("rt", ab.ID) || ab.WorkspaceName != "operator" || ab.SourceableName != "manager" || ab.CreatedAt.IsZero() {
			t.Fatalf("create = %+v, %v", ab, err)
		}
		if got, err := f.Svc.RunTriggers.Trigger(ctx, ab.ID); err != nil || got != ab {
			t.Errorf("read = %+v, %v; want %+v", got, err, ab)
		}
		bc, err := f.Svc.RunTriggers.Create(ctx, c.ID, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []struct {
			ws   workspace.Workspace
			d    runtrigger.Direction
			want string
		}{
			{b, runtrigger.Inbound, "[manager>operator]"}, {b, runtrigger.Outbound, "[operator>c]"},
			{a, runtrigger.Inbound, "[]"}, {a, runtrigger.Outbound, "[manager>operator]"}, {c, runtrigger.Inbound, "[operator>c]"},
		} {
			ts, n, err := f.Svc.RunTriggers.List(ctx, l.ws.ID, l.d, resource.Page{})
			if got := fmt.Sprint(ids(ts)); err != nil || got != l.want || n != len(ts) {
				t.Errorf("list %s %s = %s (%d), %v; want %s", l.ws.Name, l.d, got, n, err, l.want)
			}
		}
		if _, _, err := f.Svc.RunTriggers.List(ctx, b.ID, "", resource.Page{}); !fail.Is(err, fail.Invalid) {
			t.Errorf("list without a direction: %v", err)
		}

		refused := []struct {
			name       string
			ws, source string
			kind       fail.Kind
			says       string
		}{
			{"itself", a.ID, a.ID, fail.Invalid, "cannot trigger runs in itself"},
			{"twice", b.ID, a.ID, fail.Invalid, `"manager" already triggers runs in workspace "operator"`},
			{"a cycle of three", a.ID, c.ID, fail.Invalid, "cycle: c → manager → operator → c"},
			{"a cycle of two", b.ID, c.ID, fail.Invalid, "cycle: c → operator → c"},
			{"a missing source", b.ID, "ws-Missing1", fail.NotFound, ""},
			{"a junk source", b.ID, "../x", fail.NotFound, ""},
			{"no source", b.ID, "", fail.Invalid, "sourceable"},
			{"a missing workspace", "ws-Missing1", a.ID, fail.NotFound, ""},
		}
		for _, r := range refused {
			_, err := f.Svc.RunTriggers.Create(ctx, r.ws, r.source)
			if !fail.Is(err, r.kind) || !strings.Contains(fail.Message(err), r.says) {
				t.Errorf("%s: %v (%s); want %v saying %q", r.name, err, fail.Message(err), r.kind, r.says)
			}
		}

		// Deleting a link of the chain lets the reverse link in; the
		// run lifecycle's directory no longer finds it.
		linked := func(id string) bool {
			var ok bool
			if err := db.Tx(ctx, func(tx *store.Tx) (err error) {
				ok, err = runtrigger.NewDirectory(resource.Deps{DB: db}).Linked(ctx, tx, id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !linked(bc.ID) {
			t.Errorf("trigger %s not linked before deletion", bc.ID)
		}
		if err := f.Svc.RunTriggers.Delete(ctx, bc.ID); err != nil {
			t.Fatal(err)
		}
		if linked(bc.ID) {
			t.Errorf("trigger %s still linked after deletion", bc.ID)
		}
		if _, err := f.Svc.RunTriggers.Trigger(ctx, bc.ID); !fail.Is(err, fail.NotFound) {
			t.Errorf("read deleted: %v", err)
		}
		if err := f.Svc.RunTriggers.Delete(ctx, bc.ID); !fail.Is(err, fail.NotFound) {
			t.Errorf("delete twice: %v", err)
		}
		if _, err := f.Svc.RunTriggers.Create(ctx, b.ID, c.ID); err != nil {
			t.Errorf("c → operator after operator → c went: %v", err)
		}
	})
}

// TestRunTriggerLimitAndOrganizations: a workspace takes at most 20
// sources, all of its own organization.
func TestRunTriggerLimitAndOrganizations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		if _, err := f.Svc.Organizations.Create(ctx, organization.Options{Name: "other", Email: "a@other.test"}); err != nil {
			t.Fatal(err)
		}
		foreign := newWorkspace(t, f, "other", "app")
		if _, err := f.Svc.RunTriggers.Create(ctx, f.Target.ID, foreign.ID); !fail.Is(err, fail.NotFound) {
			t.Errorf("source in another organization: %v", err)
		}
		for i := range runtrigger.MaxSources {
			src := newWorkspace(t, f, "acme", fmt.Sprintf("src-%02d", i))
			if _, err := f.Svc.RunTriggers.Create(ctx, f.Target.ID, src.ID); err != nil {
				t.Fatalf("source %d: %v", i, err)
			}
		}
		_, err := f.Svc.RunTriggers.Create(ctx, f.Target.ID, f.Mgr.ID)
		if !fail.Is(err, fail.Invalid) || !strings.Contains(fail.Message(err), "already has 20 source workspaces") {
			t.Errorf("21st source: %v", err)
		}
		ts, n, err := f.Svc.RunTriggers.List(ctx, f.Target.ID, runtrigger.Inbound, resource.Page{Size: 100})
		if err != nil || n != runtrigger.MaxSources || len(ts) != runtrigger.MaxSources {
			t.Errorf("list = %d of %d, %v", len(ts), n, err)
		}
		// Deleting the workspace deletes its triggers, both ways.
		if err := f.Svc.Workspaces.Delete(ctx, f.Target.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Svc.RunTriggers.List(ctx, f.Target.ID, runtrigger.Inbound, resource.Page{}); !fail.Is(err, fail.NotFound) {
			t.Errorf("list of a deleted workspace: %v", err)
		}
		if _, err := f.Svc.RunTriggers.Trigger(ctx, ts[0].ID); !fail.Is(err, fail.NotFound) {
			t.Errorf("trigger of a deleted workspace: %v", err)
		}
	})
}

// TestRunTriggerDenials: creating needs create on the workspace's
// run-triggers and read on the source's runs; a source the caller may not
// read looks missing. Reading, listing and deleting each need their own
// capability.
func TestRunTriggerDenials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		user := pt.As(pt.User)
		triggers := runtrigger.TriggersPath("acme", "operator")
		create := func() error { _, err := f.Svc.RunTriggers.Create(user, f.Target.ID, f.Mgr.ID); return err }

		if err := create(); !fail.Is(err, fail.Denied) {
			t.Errorf("create without grants: %v", err)
		}
		f.Grants.Grant(triggers, access.Create)
		if err := create(); !fail.Is(err, fail.NotFound) {
			t.Errorf("create without reading the source's runs: %v; want not found", err)
		}
		f.Grants.Grant(resource.WorkspacePath("acme", "manager")+"/runs", access.Read)
		if err := create(); err != nil {
			t.Fatalf("create with both grants: %v", err)
		}
		ts, _, err := f.Svc.RunTriggers.List(pt.As(pt.Root), f.Target.ID, runtrigger.Inbound, resource.Page{})
		if err != nil || len(ts) != 1 {
			t.Fatalf("list = %v, %v", ts, err)
		}
		id := ts[0].ID
		if _, err := f.Svc.RunTriggers.Trigger(user, id); !fail.Is(err, fail.Denied) {
			t.Errorf("read without grant: %v", err)
		}
		if _, _, err := f.Svc.RunTriggers.List(user, f.Target.ID, runtrigger.Inbound, resource.Page{}); !fail.Is(err, fail.Denied) {
			t.Errorf("list without grant: %v", err)
		}
		if err := f.Svc.RunTriggers.Delete(user, id); !fail.Is(err, fail.Denied) {
			t.Errorf("delete without grant: %v", err)
		}
		f.Grants.Grant(triggers, access.Read, access.List)
		if _, err := f.Svc.RunTriggers.Trigger(user, id); err != nil {
			t.Errorf("read with grant: %v", err)
		}
		if _, _, err := f.Svc.RunTriggers.List(user, f.Target.ID, runtrigger.Inbound, resource.Page{}); err != nil {
			t.Errorf("list with grant: %v", err)
		}
		if err := f.Svc.RunTriggers.Delete(user, id); !fail.Is(err, fail.Denied) {
			t.Errorf("delete with read grants only: %v", err)
		}
		f.Grants.Grant(triggers, access.Delete)
		if err := f.Svc.RunTriggers.Delete(user, id); err != nil {
			t.Errorf("delete with grant: %v", err)
		}
	})
}
