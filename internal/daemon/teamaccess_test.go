package daemon_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// accessWorld is organization acme with an auto-apply workspace prod
// holding an uploaded configuration and a run root queued, a KV secret in
// the broker, and a team per access level with its token.
type accessWorld struct {
	srv   *daemontest.Server
	root  *tfe.Client
	ws    *tfe.Workspace
	run   *tfe.Run
	teams map[string]*tfe.Team
	toks  map[string]string
}

func newAccessWorld(t *testing.T, start daemontest.Starter, grants map[string]*tfe.TeamAccessAddOptions) *accessWorld {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &accessWorld{srv: start(t, nil), teams: map[string]*tfe.Team{}, toks: map[string]string{}}
	w.root = goTFE(t, w.srv, w.srv.Token)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := w.root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
	must(err)
	w.ws, err = w.root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod"), AutoApply: tfe.Bool(true)})
	must(err)
	cv, err := w.root.ConfigurationVersions.Create(ctx, w.ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	must(err)
	dir := t.TempDir()
	must(os.WriteFile(filepath.Join(dir, "main.tf"), []byte("# empty\n"), 0o600))
	must(w.root.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir))
	w.run, err = w.root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: w.ws})
	must(err)
	for name, g := range grants {
		tm, err := w.root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String(name)})
		must(err)
		if g != nil {
			g.Team, g.Workspace = tm, w.ws
			_, err = w.root.TeamAccess.Add(ctx, *g)
			must(err)
		}
		tok, err := w.root.TeamTokens.Create(ctx, tm.ID)
		must(err)
		w.teams[name], w.toks[name] = tm, tok.Token
	}
	return w
}

// operator is the classic operator permission: read and write
// variables, queue plans and applies, nothing else.
func operator() *tfe.TeamAccessAddOptions {
	return &tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessCustom), Runs: tfe.RunsPermission(tfe.RunsPermissionApply),
		Variables: tfe.VariablesPermission(tfe.VariablesPermissionWrite), StateVersions: tfe.StateVersionsPermission(tfe.StateVersionsPermissionNone),
		SentinelMocks: tfe.SentinelMocksPermission(tfe.SentinelMocksPermissionNone), WorkspaceLocking: tfe.Bool(false)}
}

func level(a tfe.AccessType) *tfe.TeamAccessAddOptions {
	return &tfe.TeamAccessAddOptions{Access: tfe.Access(a)}
}

// TestTeamWorkspacePermissions: for each of HCP Terraform's workspace
// permission sets, the classic operator's custom set and no grant at all,
// which go-tfe calls a team token may make on the workspace and which it
// may not (a denial is a 404, as HCP Terraform answers for what a team
// cannot see); and the broker paths the token reaches.
func TestTeamWorkspacePermissions(t *testing.T) { daemontest.Each(t, testTeamWorkspacePermissions) }

func testTeamWorkspacePermissions(t *testing.T, start daemontest.Starter) {
	w := newAccessWorld(t, start, map[string]*tfe.TeamAccessAddOptions{
		"none": nil, "read": level(tfe.AccessRead), "plan": level(tfe.AccessPlan), "write": level(tfe.AccessWrite),
		"admin": level(tfe.AccessAdmin), "operator": operator(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type call func(c *tfe.Client) error
	calls := []struct {
		name    string
		allowed []string
		call    call
	}{
		{"read workspace", []string{"read", "plan", "write", "admin", "operator"}, func(c *tfe.Client) error {
			_, err := c.Workspaces.ReadByID(ctx, w.ws.ID)
			return err
		}},
		{"list runs", []string{"read", "plan", "write", "admin", "operator"}, func(c *tfe.Client) error {
			_, err := c.Runs.List(ctx, w.ws.ID, nil)
			return err
		}},
		{"read run", []string{"read", "plan", "write", "admin", "operator"}, func(c *tfe.Client) error {
			_, err := c.Runs.Read(ctx, w.run.ID)
			return err
		}},
		{"list variables", []string{"read", "plan", "write", "admin", "operator"}, func(c *tfe.Client) error {
			_, err := c.Variables.List(ctx, w.ws.ID, nil)
			return err
		}},
		{"create variable", []string{"write", "admin", "operator"}, func(c *tfe.Client) error {
			v, err := c.Variables.Create(ctx, w.ws.ID, tfe.VariableCreateOptions{Key: tfe.String("k"), Value: tfe.String("v"),
				Category: tfe.Category(tfe.CategoryTerraform)})
			if err == nil {
				err = w.root.Variables.Delete(ctx, w.ws.ID, v.ID)
			}
			return err
		}},
		{"list state versions", []string{"read", "plan", "write", "admin"}, func(c *tfe.Client) error {
			_, err := c.StateVersions.List(ctx, &tfe.StateVersionListOptions{Organization: "acme", Workspace: "prod"})
			return err
		}},
		{"create configuration version", []string{"plan", "write", "admin", "operator"}, func(c *tfe.Client) error {
			_, err := c.ConfigurationVersions.Create(ctx, w.ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
			return err
		}},
		{"queue run", []string{"plan", "write", "admin", "operator"}, func(c *tfe.Client) error {
			r, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: w.ws})
			if err == nil {
				err = w.root.Runs.Cancel(ctx, r.ID, tfe.RunCancelOptions{})
			}
			return err
		}},
		{"lock and unlock", []string{"write", "admin"}, func(c *tfe.Client) error {
			if _, err := c.Workspaces.Lock(ctx, w.ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
				return err
			}
			_, err := c.Workspaces.Unlock(ctx, w.ws.ID)
			return err
		}},
		{"change settings", []string{"admin"}, func(c *tfe.Client) error {
			_, err := c.Workspaces.UpdateByID(ctx, w.ws.ID, tfe.WorkspaceUpdateOptions{Description: tfe.String("changed")})
			return err
		}},
		{"list team access", []string{"admin"}, func(c *tfe.Client) error {
			_, err := c.TeamAccess.List(ctx, &tfe.TeamAccessListOptions{WorkspaceID: w.ws.ID})
			return err
		}},
		{"grant team access", []string{"admin"}, func(c *tfe.Client) error {
			a, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessRead), Team: w.teams["none"], Workspace: w.ws})
			if err == nil {
				err = w.root.TeamAccess.Remove(ctx, a.ID)
			}
			return err
		}},
	}
	for _, c := range calls {
		for team, tok := range w.toks {
			err := c.call(goTFE(t, w.srv, tok))
			switch want := slices.Contains(c.allowed, team); {
			case want && err != nil:
				t.Errorf("%s as %s: %v, want allowed", c.name, team, err)
			case !want && !errors.Is(err, tfe.ErrResourceNotFound):
				t.Errorf("%s as %s: %v, want a 404", c.name, team, err)
			}
		}
	}

	// What the permissions blocks say, and what a plan-only run does.
	for team, want := range map[string][4]bool{ // queue run, queue apply, lock, force-unlock
		"read": {}, "plan": {true}, "write": {true, true, true}, "admin": {true, true, true, true}, "operator": {true, true},
	} {
		c := goTFE(t, w.srv, w.toks[team])
		got, err := c.Workspaces.ReadByID(ctx, w.ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		p := got.Permissions
		if have := [4]bool{p.CanQueueRun, p.CanQueueApply, p.CanLock, p.CanForceUnlock}; have != want {
			t.Errorf("%s's workspace permissions = %v, want %v", team, have, want)
		}
		r, err := c.Runs.Read(ctx, w.run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Permissions.CanApply != want[1] {
			t.Errorf("%s's run permissions = %+v", team, r.Permissions)
		}
	}
	for team, auto := range map[string]bool{"plan": false, "write": true} {
		r, err := goTFE(t, w.srv, w.toks[team]).Runs.Create(ctx, tfe.RunCreateOptions{Workspace: w.ws})
		if err != nil {
			t.Fatal(err)
		}
		if r.AutoApply != auto {
			t.Errorf("run queued by %s in an auto-apply workspace: auto-apply %v, want %v", team, r.AutoApply, auto)
		}
	}
	if l, err := goTFE(t, w.srv, w.toks["none"]).Workspaces.List(ctx, "acme", nil); err != nil || len(l.Items) != 0 {
		t.Errorf("a team without grants lists %+v, %v", l, err)
	}
	if l, err := goTFE(t, w.srv, w.toks["read"]).Workspaces.List(ctx, "acme", nil); err != nil || len(l.Items) != 1 {
		t.Errorf("a reader lists %+v, %v", l, err)
	}

	// The broker: a team token reaches only what its policy names.
	rootV := vaultAs(t, w.srv, w.srv.Token)
	if err := rootV.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rootV.KVv2("secret").Put(ctx, "app", map[string]any{"password": "s3cret"}); err != nil {
		t.Fatal(err)
	}
	for team, tok := range w.toks {
		v := vaultAs(t, w.srv, tok)
		if s, err := v.KVv2("secret").Get(ctx, "app"); err == nil {
			t.Errorf("%s read a KV secret: %+v", team, s)
		}
		if _, err := v.Sys().ListPolicies(); err == nil {
			t.Errorf("%s listed the broker's policies", team)
		}
		if err := v.Sys().PutPolicy("team-"+w.teams[team].ID, `path "*" { capabilities = ["sudo", "create", "read", "update", "delete", "list"] }`); err == nil {
			t.Errorf("%s rewrote its own policy", team)
		}
		if _, err := v.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"root"}}); err == nil {
			t.Errorf("%s created a root token", team)
		}
		for _, path := range []string{"runcred/orgs/acme/workspaces/prod/run-variables", "runcred/orgs/acme/workspaces/prod/agent",
			"runcred/orgs/acme/workspaces/prod/runs/" + w.run.ID + "/actions/override", "runcred/orgs/acme/policy-sets/polset-x",
			"runcred/orgs/acme/teams/" + w.teams[team].ID + "/organization-access"} {
			caps, err := v.Sys().CapabilitiesSelf(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(caps) != 1 || (caps[0] != "deny" && caps[0] != "read") {
				t.Errorf("%s's capabilities on %s = %v", team, path, caps)
			}
		}
		caps, err := v.Sys().CapabilitiesSelf("runcred/orgs/acme/workspaces/prod/vars/k")
		if err != nil {
			t.Fatal(err)
		}
		if writes := slices.Contains(caps, "update"); writes != slices.Contains([]string{"write", "admin", "operator"}, team) {
			t.Errorf("%s's capabilities on a variable = %v", team, caps)
		}
	}
}

// vaultAs is a Vault client of srv (over HTTPS when it serves it) with
// token, which retries nothing: a test sees every answer.
func vaultAs(t *testing.T, srv *daemontest.Server, token string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.HttpClient, cfg.MaxRetries = srv.D.URL(), srv.HTTPClient(t), 0
	v, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.SetToken(token)
	return v
}

// TestTeamProjectAndOrganizationAccess: a project grant reaches the
// project's workspaces, those made later included, and no other; a grant
// follows its workspace through a rename, and a new workspace of the old
// name is not reached; organization access attributes give what they
// name and no more; the owners team has the organization, and a team that
// manages teams cannot take the owners' tokens or hand out organization
// access.
func TestTeamProjectAndOrganizationAccess(t *testing.T) {
	daemontest.Each(t, testTeamProjectAndOrganizationAccess)
}

func testTeamProjectAndOrganizationAccess(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := goTFE(t, srv, srv.Token)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	org, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
	must(err)
	core, err := root.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "core"})
	must(err)
	outside, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("outside")})
	must(err)
	team := func(name string, oa *tfe.OrganizationAccessOptions) (*tfe.Team, *tfe.Client) {
		t.Helper()
		tm, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String(name), OrganizationAccess: oa})
		must(err)
		tok, err := root.TeamTokens.Create(ctx, tm.ID)
		must(err)
		return tm, goTFE(t, srv, tok.Token)
	}
	setVar := func(c *tfe.Client, ws *tfe.Workspace) error {
		v, err := c.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("k"), Value: tfe.String("v"), Category: tfe.Category(tfe.CategoryTerraform)})
		if err == nil {
			err = root.Variables.Delete(ctx, ws.ID, v.ID)
		}
		return err
	}

	// A project grant, before and after its workspaces exist.
	writers, wc := team("writers", nil)
	_, err = root.TeamProjectAccess.Add(ctx, tfe.TeamProjectAccessAddOptions{Access: tfe.TeamProjectAccessWrite, Team: writers, Project: core})
	must(err)
	late, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("late"), Project: core})
	must(err)
	if err := setVar(wc, late); err != nil {
		t.Errorf("a project writer on a workspace made after the grant: %v", err)
	}
	if err := setVar(wc, outside); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("a project writer outside the project: %v", err)
	}
	if _, err := wc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("mine"), Project: core}); err == nil {
		t.Error("a project writer created a workspace")
	}
	// Moving the workspace out of the project takes the grant's reach with it.
	_, err = root.Workspaces.UpdateByID(ctx, late.ID, tfe.WorkspaceUpdateOptions{Project: &tfe.Project{ID: org.DefaultProject.ID}})
	must(err)
	if err := setVar(wc, late); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("a project writer on a workspace moved out: %v", err)
	}

	// Maintain creates workspaces in its project only.
	maintainers, mc := team("maintainers", nil)
	_, err = root.TeamProjectAccess.Add(ctx, tfe.TeamProjectAccessAddOptions{Access: tfe.TeamProjectAccessMaintain, Team: maintainers, Project: core})
	must(err)
	mine, err := mc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("mine"), Project: core})
	if err != nil {
		t.Fatalf("a maintainer creates a workspace in its project: %v", err)
	}
	if _, err := mc.Workspaces.UpdateByID(ctx, mine.ID, tfe.WorkspaceUpdateOptions{Description: tfe.String("ours")}); err != nil {
		t.Errorf("a maintainer changes its workspace's settings: %v", err)
	}
	if _, err := mc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("theirs")}); err == nil {
		t.Error("a maintainer created a workspace in the default project")
	}

	// A workspace grant follows a rename.
	renamed, rc := team("renamed", nil)
	_, err = root.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: renamed, Workspace: outside})
	must(err)
	_, err = root.Workspaces.UpdateByID(ctx, outside.ID, tfe.WorkspaceUpdateOptions{Name: tfe.String("outside2")})
	must(err)
	if err := setVar(rc, outside); err != nil {
		t.Errorf("a grant after its workspace's rename: %v", err)
	}
	again, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("outside")})
	must(err)
	if err := setVar(rc, again); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("a new workspace of a granted workspace's old name: %v", err)
	}

	// Organization access.
	_, reader := team("readers", &tfe.OrganizationAccessOptions{ReadWorkspaces: tfe.Bool(true)})
	if _, err := reader.Workspaces.ReadByID(ctx, again.ID); err != nil {
		t.Errorf("read-workspaces reads a workspace: %v", err)
	}
	if err := setVar(reader, again); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("read-workspaces writes a variable: %v", err)
	}
	_, manager := team("managers", &tfe.OrganizationAccessOptions{ManageWorkspaces: tfe.Bool(true)})
	made, err := manager.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("made")})
	if err != nil {
		t.Fatalf("manage-workspaces creates a workspace: %v", err)
	}
	if err := setVar(manager, made); err != nil {
		t.Errorf("manage-workspaces writes a variable: %v", err)
	}
	if _, err := manager.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("x"), Kind: tfe.OPA}); err == nil {
		t.Error("manage-workspaces created a policy set")
	}
	_, policies := team("policies", &tfe.OrganizationAccessOptions{ManagePolicies: tfe.Bool(true)})
	if _, err := policies.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("guardrails"), Kind: tfe.OPA}); err != nil {
		t.Errorf("manage-policies creates a policy set: %v", err)
	}
	if _, err := policies.Workspaces.ReadByID(ctx, made.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("manage-policies reads a workspace: %v", err)
	}

	// Managing teams stops at the owners and at organization access.
	l, err := root.Teams.List(ctx, "acme", &tfe.TeamListOptions{Names: []string{"owners"}})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("owners team: %+v, %v", l, err)
	}
	owners := l.Items[0]
	_, teams := team("people", &tfe.OrganizationAccessOptions{ManageTeams: tfe.Bool(true)})
	sub, err := teams.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("sub")})
	if err != nil {
		t.Fatalf("manage-teams creates a team: %v", err)
	}
	if _, err := teams.TeamTokens.Create(ctx, sub.ID); err != nil {
		t.Errorf("manage-teams makes a team's token: %v", err)
	}
	if _, err := teams.TeamTokens.Create(ctx, owners.ID); err == nil {
		t.Error("manage-teams made a token of the owners team")
	}
	if _, err := teams.Teams.Update(ctx, sub.ID, tfe.TeamUpdateOptions{OrganizationAccess: &tfe.OrganizationAccessOptions{ManagePolicies: tfe.Bool(true)}}); err == nil {
		t.Error("manage-teams granted organization access")
	}
	if _, err := teams.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("sub2"),
		OrganizationAccess: &tfe.OrganizationAccessOptions{ManageWorkspaces: tfe.Bool(true)}}); err == nil {
		t.Error("manage-teams created a team with organization access")
	}
	if err := teams.Teams.Delete(ctx, owners.ID); err == nil {
		t.Error("manage-teams deleted the owners team")
	}

	// The owners.
	otok, err := root.TeamTokens.Create(ctx, owners.ID)
	must(err)
	oc := goTFE(t, srv, otok.Token)
	ows, err := oc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("owned"), Project: core})
	if err != nil {
		t.Fatalf("an owner creates a workspace: %v", err)
	}
	if err := setVar(oc, ows); err != nil {
		t.Errorf("an owner writes a variable: %v", err)
	}
	if _, err := oc.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessRead), Team: sub, Workspace: ows}); err != nil {
		t.Errorf("an owner grants access: %v", err)
	}
	if _, err := oc.Teams.Update(ctx, sub.ID, tfe.TeamUpdateOptions{OrganizationAccess: &tfe.OrganizationAccessOptions{ReadProjects: tfe.Bool(true)}}); err != nil {
		t.Errorf("an owner grants organization access: %v", err)
	}
	ov := vaultAs(t, srv, otok.Token)
	for _, path := range []string{"runcred/orgs/acme/workspaces/owned/run-variables", "runcred/orgs/acme/workspaces/owned/agent", "runcred/orgs/other"} {
		caps, err := ov.Sys().CapabilitiesSelf(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(caps) != 1 || caps[0] != "deny" {
			t.Errorf("owners' capabilities on %s = %v", path, caps)
		}
	}
}

// TestMigratedTeamKeepsAccess: a team of a database from before team
// permissions (schema 14) keeps what it had once the server upgrades it:
// write on every workspace that existed, read on the organization's
// workspaces and projects; its organization gains an owners team; a team
// created after the upgrade has nothing.
func TestMigratedTeamKeepsAccess(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			url := b.NewURL(t)
			old, err := store.OpenAt(ctx, url, 14)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO organizations (id, name, email, created_at) VALUES ('org-acme', 'acme', '', 0)`,
				`INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES ('prj-acme', 'org-acme', 'Default Project', '', 1, 0)`,
				`INSERT INTO workspaces (id, org_id, project_id, name, description, auto_apply, execution_mode, working_directory, terraform_version,
					agent_pool_id, created_at, updated_at) VALUES ('ws-prod', 'org-acme', 'prj-acme', 'prod', '', 0, 'agent', '', '', '', 0, 0)`,
				`INSERT INTO teams (id, org_id, name, visibility, created_at) VALUES ('team-devs', 'org-acme', 'devs', 'secret', 0)`,
			} {
				if _, err := old.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()

			srv := daemontest.Start(t, func(c *daemon.Config) { c.Database = url })
			root := goTFE(t, srv, srv.Token)
			tok, err := root.TeamTokens.Create(ctx, "team-devs")
			if err != nil {
				t.Fatal(err)
			}
			devs := goTFE(t, srv, tok.Token)
			if _, err := devs.Variables.Create(ctx, "ws-prod", tfe.VariableCreateOptions{Key: tfe.String("k"), Value: tfe.String("v"),
				Category: tfe.Category(tfe.CategoryTerraform)}); err != nil {
				t.Errorf("a migrated team writes a variable: %v", err)
			}
			l, err := root.TeamAccess.List(ctx, &tfe.TeamAccessListOptions{WorkspaceID: "ws-prod"})
			if err != nil || len(l.Items) != 1 || l.Items[0].Access != tfe.AccessWrite || l.Items[0].Team.ID != "team-devs" {
				t.Fatalf("the migrated grant = %+v, %v", l, err)
			}
			next, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("next")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := devs.Workspaces.ReadByID(ctx, next.ID); err != nil {
				t.Errorf("a migrated team reads a new workspace: %v", err)
			}
			if _, err := devs.Variables.Create(ctx, next.ID, tfe.VariableCreateOptions{Key: tfe.String("k"), Value: tfe.String("v"),
				Category: tfe.Category(tfe.CategoryTerraform)}); !errors.Is(err, tfe.ErrResourceNotFound) {
				t.Errorf("a migrated team writes in a workspace made after the upgrade: %v", err)
			}
			ts, err := root.Teams.List(ctx, "acme", nil)
			if err != nil || len(ts.Items) != 2 || ts.Items[1].Name != "owners" || !ts.Items[1].OrganizationAccess.ManageWorkspaces {
				t.Fatalf("teams after the upgrade = %+v, %v", ts, err)
			}
			fresh, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("fresh")})
			if err != nil {
				t.Fatal(err)
			}
			ftok, err := root.TeamTokens.Create(ctx, fresh.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := goTFE(t, srv, ftok.Token).Workspaces.ReadByID(ctx, "ws-prod"); !errors.Is(err, tfe.ErrResourceNotFound) {
				t.Errorf("a team made after the upgrade reads a workspace: %v", err)
			}
		})
	}
}
