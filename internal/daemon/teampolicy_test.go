package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// teamSetup makes organization acme with workspace prod, team devs with
// write on it and a team token.
func teamSetup(t *testing.T, start daemontest.Starter) (srv *daemontest.Server, root *tfe.Client, ws *tfe.Workspace, team *tfe.Team, teamTok string) {
	t.Helper()
	srv = start(t, nil)
	ctx := context.Background()
	root = goTFE(t, srv, srv.Token)
	if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod")})
	if err != nil {
		t.Fatal(err)
	}
	if team, err = root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("devs")}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: team, Workspace: ws}); err != nil {
		t.Fatal(err)
	}
	tt, err := root.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	return srv, root, ws, team, tt.Token
}

// TestTeamCannotChangeWorkspaceSettings: a workspace's settings choose
// where and how its runs execute (agent pool, auto-apply); a team token
// may run and set variables but not change them.
func TestTeamCannotChangeWorkspaceSettings(t *testing.T) {
	daemontest.Each(t, testTeamCannotChangeWorkspaceSettings)
}

func testTeamCannotChangeWorkspaceSettings(t *testing.T, start daemontest.Starter) {
	srv, root, ws, _, tok := teamSetup(t, start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	private, err := root.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("prod-network"), OrganizationScoped: tfe.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	dev := goTFE(t, srv, tok)
	for name, o := range map[string]tfe.WorkspaceUpdateOptions{
		"agent pool":  {ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(private.ID)},
		"auto-apply":  {AutoApply: tfe.Bool(true)},
		"working dir": {WorkingDirectory: tfe.String("other")},
	} {
		if _, err := dev.Workspaces.UpdateByID(ctx, ws.ID, o); err == nil {
			t.Errorf("a team token changed the workspace's %s", name)
		}
	}
	if got, err := root.Workspaces.ReadByID(ctx, ws.ID); err != nil || got.AgentPool != nil || got.AutoApply {
		t.Fatalf("workspace = %+v, %v", got, err)
	}
	// What a member does do still works.
	if _, err := dev.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("region"), Value: tfe.String("eu"),
		Category: tfe.Category(tfe.CategoryTerraform)}); err != nil {
		t.Fatalf("a team token could not set a variable: %v", err)
	}
}

// TestTeamTokenKeepsAdminPolicyEdits: narrowing a team's policy through
// the broker's API stands when another token of the team is created, until
// the team's grants change and its policy is compiled from them again.
func TestTeamTokenKeepsAdminPolicyEdits(t *testing.T) {
	daemontest.Each(t, testTeamTokenKeepsAdminPolicyEdits)
}

func testTeamTokenKeepsAdminPolicyEdits(t *testing.T, start daemontest.Starter) {
	srv, root, ws, team, tok := teamSetup(t, start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := vault.NewClient(&vault.Config{Address: srv.D.URL()})
	if err != nil {
		t.Fatal(err)
	}
	v.SetToken(srv.Token)
	if err := v.Sys().PutPolicy("team-"+team.ID, `path "runcred/orgs/acme" { capabilities = ["read"] }
path "runcred/orgs/acme/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatal(err)
	}
	dev := goTFE(t, srv, tok)
	n := 0
	write := func() error {
		n++
		_, err := dev.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String(fmt.Sprintf("k%d", n)),
			Value: tfe.String("v"), Category: tfe.Category(tfe.CategoryTerraform)})
		return err
	}
	if write() == nil {
		t.Fatal("the narrowed policy did not take effect")
	}
	if _, err := root.TeamTokens.CreateWithOptions(ctx, team.ID, tfe.TeamTokenCreateOptions{Description: tfe.String("ci")}); err != nil {
		t.Fatal(err)
	}
	if write() == nil {
		t.Error("creating a team token restored the write access an admin had removed")
	}
	// A change of the team's grants compiles its policy afresh.
	l, err := root.TeamAccess.List(ctx, &tfe.TeamAccessListOptions{WorkspaceID: ws.ID})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("grants = %+v, %v", l, err)
	}
	if _, err := root.TeamAccess.Update(ctx, l.Items[0].ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessAdmin)}); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Errorf("after a new grant: %v", err)
	}
}

// TestTeamLocksWorkspaces: a team token locks and unlocks a workspace; it
// cannot lift another's lock, which force-unlock (an admin's) can.
func TestTeamLocksWorkspaces(t *testing.T) { daemontest.Each(t, testTeamLocksWorkspaces) }

func testTeamLocksWorkspaces(t *testing.T, start daemontest.Starter) {
	srv, root, ws, _, tok := teamSetup(t, start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev := goTFE(t, srv, tok)
	if _, err := dev.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{Reason: tfe.String("release")}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Workspaces.Unlock(ctx, ws.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Workspaces.Unlock(ctx, ws.ID); err == nil {
		t.Error("a team token lifted the admin's lock")
	}
	if _, err := dev.Workspaces.ForceUnlock(ctx, ws.ID); err == nil {
		t.Error("a team token force-unlocked the workspace")
	}
	if got, err := root.Workspaces.ReadByID(ctx, ws.ID); err != nil || !got.Locked {
		t.Fatalf("workspace = %+v, %v; want still locked", got, err)
	}
}
