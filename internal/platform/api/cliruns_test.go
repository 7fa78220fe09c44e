package api_test

import (
	"os"
	"path/filepath"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestRunQueueAndEvents: the organization's run queue lists the runs
// waiting for an agent with their positions, capacity counts them and the
// running ones, a run has no events, and each is refused to a caller who
// may not read the organization. A run says what the caller may do to it.
func TestRunQueueAndEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		ag := agent{t, e.svc}
		mustOrg(t, ctx, c, "acme")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte("resource \"terraform_data\" \"x\" {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var runs []*tfe.Run
		for _, name := range []string{"a", "b", "c"} {
			ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
				t.Fatal(err)
			}
			r, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r)
		}
		if !runs[0].Permissions.CanApply || !runs[0].Permissions.CanCancel || !runs[0].Permissions.CanDiscard || runs[0].Permissions.CanForceExecute {
			t.Errorf("root's permissions on a run: %+v", runs[0].Permissions)
		}
		ag.claim(jobapi.Plan, runs[0].ID) // a is planning; b and c wait

		q, err := c.Organizations.ReadRunQueue(ctx, "acme", tfe.ReadRunQueueOptions{})
		if err != nil || len(q.Items) != 2 || q.Items[0].ID != runs[1].ID || q.Items[0].PositionInQueue != 1 ||
			q.Items[1].ID != runs[2].ID || q.Items[1].PositionInQueue != 2 {
			t.Fatalf("queue = %+v, %v", q, err)
		}
		if cp, err := c.Organizations.ReadCapacity(ctx, "acme"); err != nil || cp.Pending != 2 || cp.Running != 1 {
			t.Errorf("capacity = %+v, %v", cp, err)
		}
		if evs, err := c.RunEvents.List(ctx, runs[0].ID, nil); err != nil || len(evs.Items) != 0 {
			t.Errorf("run events = %+v, %v", evs, err)
		}

		u := e.client(t, "user-token")
		if _, err := u.Organizations.ReadRunQueue(ctx, "acme", tfe.ReadRunQueueOptions{}); err != tfe.ErrResourceNotFound {
			t.Errorf("queue for a user who may not read acme: %v", err)
		}
		if _, err := u.Organizations.ReadCapacity(ctx, "acme"); err != tfe.ErrResourceNotFound {
			t.Errorf("capacity for a user who may not read acme: %v", err)
		}
		if _, err := u.RunEvents.List(ctx, runs[0].ID, nil); err != tfe.ErrResourceNotFound {
			t.Errorf("run events for a user who may not read the run: %v", err)
		}
	})
}

// TestTagNames: tag names, which the CLIs' cloud block selects workspaces
// by, are a workspace's key-only tag bindings: given at create, added with
// AddTags, listed as tag-names, searched with search[tags] (every name,
// own bindings without a value only); a bad name is a 422 and stores
// nothing; a caller who may not update the workspace adds none.
func TestTagNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		a, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("a"), Tags: []*tfe.Tag{{Name: "net"}, {Name: "app"}}})
		if err != nil || len(a.TagNames) != 2 || a.TagNames[0] != "app" || a.TagNames[1] != "net" {
			t.Fatalf("create with tags: %+v, %v", a, err)
		}
		b, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("b"), Tags: []*tfe.Tag{{Name: "net"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("c"),
			TagBindings: []*tfe.TagBinding{{Key: "net", Value: "x"}, {Key: "app"}}}); err != nil {
			t.Fatal(err)
		}
		names := func(tags string) []string {
			t.Helper()
			l, err := c.Workspaces.List(ctx, "acme", &tfe.WorkspaceListOptions{Tags: tags})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, w := range l.Items {
				out = append(out, w.Name)
			}
			return out
		}
		if got := names("net,app"); len(got) != 1 || got[0] != "a" {
			t.Errorf("search net,app = %v, want [a]", got)
		}
		if got := names("net"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("search net = %v, want [a b]", got)
		}
		if err := c.Workspaces.AddTags(ctx, b.ID, tfe.WorkspaceAddTagsOptions{Tags: []*tfe.Tag{{Name: "app"}}}); err != nil {
			t.Fatal(err)
		}
		if got := names("net,app"); len(got) != 2 {
			t.Errorf("after AddTags, search net,app = %v, want [a b]", got)
		}
		if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("d"), Tags: []*tfe.Tag{{Name: "no spaces"}}}); err == nil {
			t.Error("a tag name with a space was taken")
		}
		if _, err := c.Workspaces.Read(ctx, "acme", "d"); err != tfe.ErrResourceNotFound {
			t.Errorf("workspace of a refused create: %v", err)
		}
		if err := e.client(t, "user-token").Workspaces.AddTags(ctx, b.ID, tfe.WorkspaceAddTagsOptions{Tags: []*tfe.Tag{{Name: "x"}}}); err == nil {
			t.Error("a user who may not update the workspace added a tag")
		}
		if got := names("x"); len(got) != 0 {
			t.Errorf("search x = %v", got)
		}
	})
}
