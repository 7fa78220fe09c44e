package team

import (
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker/acl"
)

// caps compiles g and answers, as the broker's ACL would, whether each
// capability is granted on path.
func allowed(t *testing.T, g grants, path, capability string) bool {
	t.Helper()
	p, err := acl.Parse("team", compile(g))
	if err != nil {
		t.Fatalf("compiled policy does not parse: %v\n%s", err, compile(g))
	}
	return slices.Contains(acl.New(p).Capabilities(path), capability)
}

// TestWorkspaceRulesPerPermission: for each workspace permission set, and
// the classic operator's custom set, which of the paths the platform's
// services ask a grant on workspace app gives; another workspace gets
// nothing, and nothing ever reaches a run's decrypted variables or its
// agent.
func TestWorkspaceRulesPerPermission(t *testing.T) {
	const w = "runcred/orgs/acme/workspaces/app"
	checks := []struct{ path, capability string }{
		{w, "read"}, {w, "update"}, {w, "delete"},
		{w + "/runs", "list"}, {w + "/runs/run-1", "read"}, {w + "/runs/run-1/plan-json", "read"},
		{w + "/runs", "create"}, {w + "/configuration-versions", "create"}, {w + "/configuration-versions", "read"},
		{w + "/runs/run-1/actions/cancel", "update"}, {w + "/runs/run-1/actions/apply", "update"},
		{w + "/runs/run-1/actions/discard", "update"}, {w + "/runs/run-1/actions/force-cancel", "update"},
		{w + "/runs/run-1/actions/override", "update"},
		{w + "/vars", "list"}, {w + "/vars/k", "read"}, {w + "/vars/k", "create"}, {w + "/vars/k", "update"}, {w + "/vars/k", "delete"},
		{w + "/state-outputs", "read"}, {w + "/state-versions", "read"}, {w + "/state-versions", "list"}, {w + "/state-versions", "create"},
		{w + "/actions/lock", "update"}, {w + "/actions/unlock", "update"}, {w + "/actions/force-unlock", "update"},
		{w + "/team-access", "create"}, {w + "/team-access", "list"},
	}
	operator := WorkspacePermissions{Runs: "apply", Variables: "write", StateVersions: "none", SentinelMocks: "none"}
	for name, tc := range map[string]struct {
		p    WorkspacePermissions
		want []int // indexes into checks that are granted
	}{
		"read":     {workspaceSets[AccessRead], []int{0, 3, 4, 5, 8, 14, 15, 19, 20, 21}},
		"plan":     {workspaceSets[AccessPlan], []int{0, 3, 4, 5, 6, 7, 8, 9, 14, 15, 19, 20, 21}},
		"write":    {workspaceSets[AccessWrite], []int{0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}},
		"admin":    {workspaceSets[AccessAdmin], []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27}},
		"operator": {operator, []int{0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18}},
		"outputs":  {WorkspacePermissions{Runs: "read", Variables: "none", StateVersions: "read-outputs", SentinelMocks: "none"}, []int{0, 3, 4, 5, 8, 19}},
		"override": {WorkspacePermissions{Runs: "read", Variables: "none", StateVersions: "none", SentinelMocks: "none", PolicyOverrides: true},
			[]int{0, 3, 4, 5, 8, 13}},
	} {
		g := grants{team: Team{ID: "team-a", Organization: "acme"}, workspaces: []orgWorkspace{{"ws-app", "app", "prj-d"}, {"ws-other", "other", "prj-d"}},
			ws: []WorkspaceAccess{{TeamID: "team-a", WorkspaceID: "ws-app", WorkspacePermissions: tc.p}}}
		for i, c := range checks {
			if got := allowed(t, g, c.path, c.capability); got != slices.Contains(tc.want, i) {
				t.Errorf("%s: %s on %s = %v", name, c.capability, c.path, got)
			}
			other := strings.Replace(c.path, "/app", "/other", 1)
			if allowed(t, g, other, c.capability) {
				t.Errorf("%s: %s on %s, a workspace not granted", name, c.capability, other)
			}
		}
		for _, p := range []string{w + "/run-variables", w + "/agent"} {
			if caps := acl.New(must(acl.Parse("team", compile(g)))).Capabilities(p); !slices.Equal(caps, []string{"deny"}) {
				t.Errorf("%s: %s = %v", name, p, caps)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCompileJoinsGrants: a workspace's rules hold everything the team
// has there, from its own grant, its project's and the organization's; a
// project grant reaches every workspace of the project and only those; no
// grant, no workspace.
func TestCompileJoinsGrants(t *testing.T) {
	const ws = "runcred/orgs/acme/workspaces/"
	base := grants{team: Team{ID: "team-a", Organization: "acme"}, projects: map[string]string{"prj-d": "Default", "prj-c": "core"},
		workspaces: []orgWorkspace{{"ws-a", "a", "prj-c"}, {"ws-b", "b", "prj-c"}, {"ws-c", "c", "prj-d"}}}
	if allowed(t, base, ws+"a", "read") || !allowed(t, base, "runcred/orgs/acme", "read") || !allowed(t, base, ws[:len(ws)-1], "list") {
		t.Error("a team without grants: wrong base")
	}
	g := base
	g.team.OrganizationAccess = []string{OrgReadWorkspaces}
	g.ws = []WorkspaceAccess{{WorkspaceID: "ws-a", WorkspacePermissions: WorkspacePermissions{Runs: "read", Variables: "none", StateVersions: "none",
		SentinelMocks: "none", WorkspaceLocking: true}}}
	g.prj = []ProjectAccess{{ProjectID: "prj-c", Project: ProjectPermissions{"read", "none", "none"},
		Workspace: ProjectWorkspacePermissions{WorkspacePermissions: WorkspacePermissions{Runs: "plan", Variables: "none", StateVersions: "none", SentinelMocks: "none"}}}}
	for _, c := range []struct {
		path, capability string
		want             bool
	}{
		{ws + "a/vars/k", "read", true},           // the organization's read
		{ws + "a/actions/lock", "update", true},   // its own grant
		{ws + "a/runs", "create", true},           // the project's plan
		{ws + "b/runs", "create", true},           // the project's plan
		{ws + "b/actions/lock", "update", false},  // not granted on b
		{ws + "c/runs", "create", false},          // c is in another project
		{ws + "c/vars/k", "read", true},           // the organization's read
		{ws + "new/state-versions", "list", true}, // the organization's read reaches workspaces to come
		{ws + "new/vars/k", "update", false},
		{"runcred/orgs/acme/projects/core", "read", true},
		{"runcred/orgs/acme/projects/core", "update", false},
		{"runcred/orgs/acme/projects/Default", "read", false},
	} {
		if got := allowed(t, g, c.path, c.capability); got != c.want {
			t.Errorf("%s on %s = %v, want %v", c.capability, c.path, got, c.want)
		}
	}
	owners := base
	owners.team.Owners = true
	for _, c := range []struct {
		path, capability string
		want             bool
	}{
		{ws + "new/vars/k", "update", true}, {"runcred/orgs/acme/policy-sets/x", "create", true}, {"runcred/orgs/acme", "delete", true},
		{ws + "a/run-variables", "read", false}, {ws + "a/agent", "update", false}, {"runcred/orgs/other", "read", false},
	} {
		if got := allowed(t, owners, c.path, c.capability); got != c.want {
			t.Errorf("owners: %s on %s = %v, want %v", c.capability, c.path, got, c.want)
		}
	}
}

// TestCustomOptions: custom grants start from the set they replace or
// from HCP Terraform's defaults, refuse unknown values naming the field,
// and fixed sets take no custom fields.
func TestCustomOptions(t *testing.T) {
	a := WorkspaceAccess{}
	if err := (WorkspaceAccessOptions{Access: new("write")}).apply(&a); err != nil || a.Variables != "write" || !a.WorkspaceLocking {
		t.Fatalf("write = %+v, %v", a, err)
	}
	if err := (WorkspaceAccessOptions{Access: new("custom"), Variables: new("read")}).apply(&a); err != nil || a.Variables != "read" ||
		a.Runs != "apply" || !a.WorkspaceLocking {
		t.Fatalf("custom from write = %+v, %v", a, err)
	}
	b := WorkspaceAccess{}
	if err := (WorkspaceAccessOptions{Access: new("custom")}).apply(&b); err != nil || b.WorkspacePermissions != customDefault {
		t.Fatalf("custom from nothing = %+v, %v", b, err)
	}
	for field, o := range map[string]WorkspaceAccessOptions{
		"runs":           {Access: new("custom"), Runs: new("all")},
		"variables":      {Access: new("custom"), Variables: new("")},
		"sentinel-mocks": {Access: new("custom"), SentinelMocks: new("write")},
		"custom":         {Access: new("read"), Runs: new("apply")},
		"access":         {},
	} {
		c := WorkspaceAccess{}
		if err := o.apply(&c); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	p := ProjectAccess{}
	if err := (ProjectAccessOptions{Access: new("custom"), Teams: new("everyone")}).apply(&p); err == nil || !strings.Contains(err.Error(), "project-access.teams") {
		t.Errorf("bad project teams: %v", err)
	}
	if err := (ProjectAccessOptions{Access: new("admin")}).apply(&p); err != nil || p.Project.Settings != "delete" || !p.Workspace.Admin || !p.Workspace.Move {
		t.Errorf("project admin = %+v, %v", p, err)
	}
}
