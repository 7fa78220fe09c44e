package team_test

import (
	"context"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGrantDenials: every grant operation asks its own permission first,
// and fails closed: without it (or anonymous) nothing is read or changed;
// a team's organization access needs the owners' permission; the owners
// team is neither deleted nor renamed.
func TestGrantDenials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewApps(t, db)
		root := pt.As(pt.Root)
		tm, err := f.Svc.Teams.Create(root, "acme", team.Options{Name: new("ops")})
		if err != nil {
			t.Fatal(err)
		}
		org, err := f.Svc.Organizations.Organization(root, "acme")
		if err != nil {
			t.Fatal(err)
		}
		wa, err := f.Svc.Teams.CreateWorkspaceAccess(root, tm.ID, f.App.ID, team.WorkspaceAccessOptions{Access: new("read")})
		if err != nil {
			t.Fatal(err)
		}
		pa, err := f.Svc.Teams.CreateProjectAccess(root, tm.ID, org.DefaultProjectID, team.ProjectAccessOptions{Access: new("read")})
		if err != nil {
			t.Fatal(err)
		}
		ctx := pt.As(pt.User)
		f.Grants.Grant("runcred/orgs/acme/workspaces/app", access.Read) // may see the workspace, not its team access
		f.Grants.Grant("runcred/orgs/acme/teams/"+tm.ID, access.Update)
		calls := map[string]func(ctx context.Context) error{
			"grant workspace": func(ctx context.Context) error {
				_, err := f.Svc.Teams.CreateWorkspaceAccess(ctx, tm.ID, f.App.ID, team.WorkspaceAccessOptions{Access: new("admin")})
				return err
			},
			"read workspace grant": func(ctx context.Context) error { _, err := f.Svc.Teams.WorkspaceAccess(ctx, wa.ID); return err },
			"list workspace grants": func(ctx context.Context) error {
				_, _, err := f.Svc.Teams.WorkspaceAccesses(ctx, f.App.ID, resource.Page{})
				return err
			},
			"update workspace grant": func(ctx context.Context) error {
				_, err := f.Svc.Teams.UpdateWorkspaceAccess(ctx, wa.ID, team.WorkspaceAccessOptions{Access: new("admin")})
				return err
			},
			"delete workspace grant": func(ctx context.Context) error { return f.Svc.Teams.DeleteWorkspaceAccess(ctx, wa.ID) },
			"grant project": func(ctx context.Context) error {
				_, err := f.Svc.Teams.CreateProjectAccess(ctx, tm.ID, org.DefaultProjectID, team.ProjectAccessOptions{Access: new("admin")})
				return err
			},
			"read project grant": func(ctx context.Context) error { _, err := f.Svc.Teams.ProjectAccess(ctx, pa.ID); return err },
			"list project grants": func(ctx context.Context) error {
				_, _, err := f.Svc.Teams.ProjectAccesses(ctx, org.DefaultProjectID, resource.Page{})
				return err
			},
			"update project grant": func(ctx context.Context) error {
				_, err := f.Svc.Teams.UpdateProjectAccess(ctx, pa.ID, team.ProjectAccessOptions{Access: new("admin")})
				return err
			},
			"delete project grant": func(ctx context.Context) error { return f.Svc.Teams.DeleteProjectAccess(ctx, pa.ID) },
			"organization access": func(ctx context.Context) error {
				_, err := f.Svc.Teams.Update(ctx, tm.ID, team.Options{OrganizationAccess: map[string]bool{team.OrgManageWorkspaces: true}})
				return err
			},
		}
		for name, call := range calls {
			if err := call(ctx); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without the grant: %v", name, err)
			}
			if err := call(context.Background()); !fail.Is(err, fail.Unauthenticated) {
				t.Errorf("%s anonymously: %v", name, err)
			}
		}
		if got, err := f.Svc.Teams.WorkspaceAccess(root, wa.ID); err != nil || got.Access != "read" {
			t.Errorf("a denied update changed the grant: %+v, %v", got, err)
		}
		if got, err := f.Svc.Teams.Team(root, tm.ID); err != nil || len(got.OrganizationAccess) != 0 {
			t.Errorf("a denied update changed organization access: %+v, %v", got, err)
		}
		// With the permissions, the same calls go through.
		f.Grants.Grant("runcred/orgs/acme/workspaces/app/team-access", access.Create, access.Read, access.Update, access.Delete, access.List)
		f.Grants.Grant("runcred/orgs/acme/projects/Default Project/team-access", access.Create, access.Read, access.Update, access.Delete, access.List)
		f.Grants.Grant("runcred/orgs/acme/teams/"+tm.ID+"/organization-access", access.Update)
		for _, name := range []string{"read workspace grant", "list workspace grants", "update workspace grant", "delete workspace grant",
			"read project grant", "list project grants", "update project grant", "delete project grant", "organization access"} {
			if err := calls[name](ctx); err != nil {
				t.Errorf("%s with the grant: %v", name, err)
			}
		}

		// The owners team stays.
		if org.OwnersTeamID == "" {
			t.Fatal("no owners team")
		}
		if err := f.Svc.Teams.Delete(root, org.OwnersTeamID); !fail.Is(err, fail.Invalid) {
			t.Errorf("delete owners: %v", err)
		}
		if _, err := f.Svc.Teams.Update(root, org.OwnersTeamID, team.Options{Name: new("admins")}); !fail.Is(err, fail.Invalid) {
			t.Errorf("rename owners: %v", err)
		}
		if _, err := f.Svc.Teams.Update(root, tm.ID, team.Options{OrganizationAccess: map[string]bool{"manage-vcs-settings": true}}); !fail.Is(err, fail.Invalid) {
			t.Errorf("an organization access runcred does not govern: %v", err)
		}
	})
}
