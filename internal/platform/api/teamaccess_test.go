package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFETeamAccessWire: team-workspaces and team-projects as go-tfe
// sends and reads them: the fixed sets read back their permissions, custom
// fields are kept, bad values are refused naming the field with nothing
// stored, and a grant follows its workspace and team.
func TestGoTFETeamAccessWire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		ops, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("ops")})
		if err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessPlan), Team: ops, Workspace: ws})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.ID, "tws-") || a.Access != tfe.AccessPlan || a.Runs != tfe.RunsPermissionPlan || a.Variables != tfe.VariablesPermissionRead ||
			a.StateVersions != tfe.StateVersionsPermissionRead || a.WorkspaceLocking || a.Team == nil || a.Team.ID != ops.ID ||
			a.Workspace == nil || a.Workspace.ID != ws.ID {
			t.Fatalf("plan access = %+v", a)
		}
		if _, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessRead), Team: ops, Workspace: ws}); err == nil ||
			!strings.Contains(err.Error(), "already has access") {
			t.Errorf("a second grant to the same team: %v", err)
		}
		u, err := c.TeamAccess.Update(ctx, a.ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessCustom),
			Runs: tfe.RunsPermission(tfe.RunsPermissionApply), Variables: tfe.VariablesPermission(tfe.VariablesPermissionWrite),
			StateVersions: tfe.StateVersionsPermission(tfe.StateVersionsPermissionReadOutputs), WorkspaceLocking: tfe.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if u.Access != tfe.AccessCustom || u.Runs != tfe.RunsPermissionApply || u.Variables != tfe.VariablesPermissionWrite ||
			u.StateVersions != tfe.StateVersionsPermissionReadOutputs || !u.WorkspaceLocking || u.PolicyOverrides {
			t.Fatalf("custom access = %+v", u)
		}
		for name, o := range map[string]tfe.TeamAccessUpdateOptions{
			"runs":           {Access: tfe.Access(tfe.AccessCustom), Runs: tfe.RunsPermission("everything")},
			"state-versions": {Access: tfe.Access(tfe.AccessCustom), StateVersions: tfe.StateVersionsPermission("all")},
			"access":         {Access: tfe.Access("owner")},
		} {
			if _, err := c.TeamAccess.Update(ctx, a.ID, o); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("update with a bad %s: %v, want a refusal naming it", name, err)
			}
		}
		if _, err := c.TeamAccess.Update(ctx, a.ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessRead),
			Runs: tfe.RunsPermission(tfe.RunsPermissionApply)}); err == nil || !strings.Contains(err.Error(), "custom") {
			t.Errorf("custom fields with access read: %v", err)
		}
		if r, err := c.TeamAccess.Read(ctx, a.ID); err != nil || r.Access != tfe.AccessCustom || r.StateVersions != tfe.StateVersionsPermissionReadOutputs {
			t.Errorf("a refused update changed the grant: %+v, %v", r, err)
		}
		l, err := c.TeamAccess.List(ctx, &tfe.TeamAccessListOptions{WorkspaceID: ws.ID})
		if err != nil || len(l.Items) != 1 || l.Items[0].ID != a.ID || l.TotalCount != 1 {
			t.Fatalf("list = %+v, %v", l, err)
		}
		if code, body := sendRaw(t, "GET", e.url+"/api/v2/team-workspaces", "root-token", ""); code != http.StatusUnprocessableEntity ||
			!strings.Contains(body, "filter[workspace][id]") {
			t.Errorf("list without a workspace: %d %s", code, body)
		}
		if code, body := sendRaw(t, "POST", e.url+"/api/v2/team-workspaces", "root-token",
			`{"data":{"type":"team-workspaces","attributes":{"access":"read"},"relationships":{"workspace":{"data":{"type":"workspaces","id":"`+ws.ID+`"}}}}}`); code != http.StatusUnprocessableEntity ||
			!strings.Contains(body, "team") {
			t.Errorf("grant without a team: %d %s", code, body)
		}
		other, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("other"), Email: tfe.String("o@x.test")})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := c.Teams.Create(ctx, other.Name, tfe.TeamCreateOptions{Name: tfe.String("ops")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessRead), Team: foreign, Workspace: ws}); err == nil ||
			!strings.Contains(err.Error(), "not a team of organization") {
			t.Errorf("grant to another organization's team: %v", err)
		}
		if err := c.TeamAccess.Remove(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TeamAccess.Read(ctx, a.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read removed grant: %v", err)
		}
		// A grant goes with its workspace.
		b, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessAdmin), Team: ops, Workspace: ws})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Workspaces.DeleteByID(ctx, ws.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TeamAccess.Read(ctx, b.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("grant of a deleted workspace: %v", err)
		}

		// Projects.
		prj, err := c.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "core"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.TeamProjectAccess.Add(ctx, tfe.TeamProjectAccessAddOptions{Access: tfe.TeamProjectAccessMaintain, Team: ops, Project: prj})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ID, "tprj-") || p.Access != tfe.TeamProjectAccessMaintain || p.Project == nil || p.Project.ID != prj.ID ||
			p.WorkspaceAccess == nil || !p.WorkspaceAccess.WorkspaceCreatePermission || p.WorkspaceAccess.WorkspaceRunsPermission != tfe.WorkspaceRunsPermissionApply {
			t.Fatalf("maintain access = %+v %+v", p, p.WorkspaceAccess)
		}
		up, err := c.TeamProjectAccess.Update(ctx, p.ID, tfe.TeamProjectAccessUpdateOptions{Access: tfe.ProjectAccess(tfe.TeamProjectAccessCustom),
			ProjectAccess: &tfe.TeamProjectAccessProjectPermissionsOptions{Teams: tfe.ProjectTeamsPermission(tfe.ProjectTeamsPermissionRead)},
			WorkspaceAccess: &tfe.TeamProjectAccessWorkspacePermissionsOptions{Runs: tfe.WorkspaceRunsPermission(tfe.WorkspaceRunsPermissionPlan),
				Variables: tfe.WorkspaceVariablesPermission(tfe.WorkspaceVariablesPermissionWrite), Create: tfe.Bool(false)}})
		if err != nil {
			t.Fatal(err)
		}
		if up.Access != tfe.TeamProjectAccessCustom || up.ProjectAccess.ProjectTeamsPermission != tfe.ProjectTeamsPermissionRead ||
			up.WorkspaceAccess.WorkspaceRunsPermission != tfe.WorkspaceRunsPermissionPlan ||
			up.WorkspaceAccess.WorkspaceVariablesPermission != tfe.WorkspaceVariablesPermissionWrite || up.WorkspaceAccess.WorkspaceCreatePermission {
			t.Fatalf("custom project access = %+v %+v %+v", up, up.ProjectAccess, up.WorkspaceAccess)
		}
		if _, err := c.TeamProjectAccess.Update(ctx, p.ID, tfe.TeamProjectAccessUpdateOptions{Access: tfe.ProjectAccess(tfe.TeamProjectAccessCustom),
			WorkspaceAccess: &tfe.TeamProjectAccessWorkspacePermissionsOptions{Runs: tfe.WorkspaceRunsPermission("destroy")}}); err == nil ||
			!strings.Contains(err.Error(), "workspace-access.runs") {
			t.Errorf("bad project runs permission: %v", err)
		}
		pl, err := c.TeamProjectAccess.List(ctx, tfe.TeamProjectAccessListOptions{ProjectID: prj.ID})
		if err != nil || len(pl.Items) != 1 || pl.Items[0].ID != p.ID {
			t.Fatalf("list project access = %+v, %v", pl, err)
		}
		if err := c.TeamProjectAccess.Remove(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TeamProjectAccess.Read(ctx, p.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read removed project grant: %v", err)
		}
	})
}

// TestGoTFEOwnersTeam: an organization comes with its owners team, which
// reads every organization permission as granted and can be neither
// renamed nor deleted; other teams' organization access is kept.
func TestGoTFEOwnersTeam(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		l, err := c.Teams.List(ctx, "acme", &tfe.TeamListOptions{Names: []string{"owners"}})
		if err != nil || len(l.Items) != 1 {
			t.Fatalf("owners team = %+v, %v", l, err)
		}
		owners := l.Items[0]
		if oa := owners.OrganizationAccess; oa == nil || !oa.ManageWorkspaces || !oa.ManagePolicies || !oa.ManageVCSSettings {
			t.Errorf("owners' organization access = %+v", oa)
		}
		if err := c.Teams.Delete(ctx, owners.ID); err == nil || !strings.Contains(err.Error(), "owners") {
			t.Errorf("delete owners: %v", err)
		}
		if _, err := c.Teams.Update(ctx, owners.ID, tfe.TeamUpdateOptions{Name: tfe.String("admins")}); err == nil || !strings.Contains(err.Error(), "renamed") {
			t.Errorf("rename owners: %v", err)
		}
		tm, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("platform"),
			OrganizationAccess: &tfe.OrganizationAccessOptions{ManageWorkspaces: tfe.Bool(true), ReadProjects: tfe.Bool(true)}})
		if err != nil {
			t.Fatal(err)
		}
		if oa := tm.OrganizationAccess; !oa.ManageWorkspaces || !oa.ReadProjects || oa.ManagePolicies {
			t.Errorf("created organization access = %+v", oa)
		}
		u, err := c.Teams.Update(ctx, tm.ID, tfe.TeamUpdateOptions{OrganizationAccess: &tfe.OrganizationAccessOptions{ManageWorkspaces: tfe.Bool(false),
			ManagePolicies: tfe.Bool(true)}})
		if err != nil {
			t.Fatal(err)
		}
		if oa := u.OrganizationAccess; oa.ManageWorkspaces || !oa.ReadProjects || !oa.ManagePolicies {
			t.Errorf("updated organization access = %+v", oa)
		}
		body, _ := e.tokens.Policy("team-" + tm.ID)
		if !strings.Contains(body, `path "runcred/orgs/acme/policy-sets/*"`) || strings.Contains(body, `"runcred/orgs/acme/workspaces/+"`) {
			t.Errorf("policy of manage-policies and read-projects:\n%s", body)
		}
	})
}
