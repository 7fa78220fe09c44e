package team

import (
	"slices"
	"sort"

	"github.com/runcred/runcred/internal/platform/resource"
)

// Rule is one path rule of a broker ACL policy.
type Rule = resource.Rule

// AnyWorkspace, given to WorkspaceRules as the workspace name, makes rules
// for every workspace of the organization, present and future.
const AnyWorkspace = "+"

// WorkspaceRules turns permissions p on workspace ws of org (a name, or
// AnyWorkspace) into the broker ACL rules that grant them: this is the one
// place where HCP Terraform's workspace permissions meet runcred's
// authorization paths, and every platform service asks these paths. Any
// permission reads the workspace and its runs; nothing here reaches a
// run's decrypted variables or acts as its agent, which stay denied
// whatever else the policy holds.
func WorkspaceRules(org, ws string, p WorkspacePermissions) []Rule {
	w := resource.WorkspacePath(org, ws)
	var out []Rule
	add := func(path string, caps ...string) { out = append(out, Rule{Path: path, Caps: caps}) }
	wsCaps := []string{"read"}
	if p.Admin {
		wsCaps = append(wsCaps, "update")
	}
	if p.Delete {
		wsCaps = append(wsCaps, "delete")
	}
	add(w, wsCaps...)
	runs, cvs := []string{"read", "list"}, []string{"read"}
	if p.Runs == "plan" || p.Runs == "apply" {
		runs, cvs = append(runs, "create"), append(cvs, "create")
	}
	add(w+"/runs", runs...)
	add(w+"/runs/*", "read")
	add(w+"/configuration-versions", cvs...)
	switch p.Runs {
	case "plan":
		add(w+"/runs/+/actions/cancel", "update")
	case "apply":
		for _, a := range []string{"apply", "discard", "cancel", "force-cancel"} {
			add(w+"/runs/+/actions/"+a, "update")
		}
	}
	if p.PolicyOverrides {
		add(w+"/runs/+/actions/override", "update")
	}
	switch p.Variables {
	case "read":
		add(w+"/vars", "list")
		add(w+"/vars/*", "read", "list")
	case "write":
		add(w+"/vars", "list")
		add(w+"/vars/*", "create", "read", "update", "delete", "list")
	}
	switch p.StateVersions {
	case "read-outputs":
		add(w+"/state-outputs", "read")
	case "read":
		add(w+"/state-outputs", "read")
		add(w+"/state-versions", "read", "list")
	case "write":
		add(w+"/state-outputs", "read")
		add(w+"/state-versions", "create", "read", "list")
	}
	if p.WorkspaceLocking {
		add(w+"/actions/lock", "update")
		add(w+"/actions/unlock", "update")
	}
	if p.Admin {
		add(w+"/actions/force-unlock", "update")
		add(w+"/team-access", "create", "read", "update", "delete", "list")
	}
	add(w+"/run-variables", "deny")
	add(w+"/agent", "deny")
	return out
}

// ProjectRules turns a project grant's permissions on the project itself
// into rules (its workspaces get WorkspaceRules). Creating workspaces in a
// project, and moving them into it, asks update on the project.
func ProjectRules(org, project string, p ProjectPermissions, w ProjectWorkspacePermissions) []Rule {
	path := resource.ProjectPath(org, project)
	caps := []string{"read"}
	if p.Settings != "read" || w.Create || w.Move {
		caps = append(caps, "update")
	}
	if p.Settings == "delete" {
		caps = append(caps, "delete")
	}
	out := []Rule{{Path: path, Caps: caps}, {Path: path + "/credential-guard", Caps: []string{"read"}}}
	switch p.Teams {
	case "read":
		out = append(out, Rule{Path: path + "/team-access", Caps: []string{"read", "list"}})
	case "manage":
		out = append(out, Rule{Path: path + "/team-access", Caps: []string{"create", "read", "update", "delete", "list"}})
	}
	if w.Create {
		out = append(out, Rule{Path: resource.WorkspacesPath(org) + "/+", Caps: []string{"create"}})
	}
	return out
}

// grants is everything a team's policy is compiled from.
type grants struct {
	team       Team
	ownersID   string            // the organization's owners team, "" if none
	workspaces []orgWorkspace    // every workspace of the organization
	projects   map[string]string // project id → name
	ws         []WorkspaceAccess
	prj        []ProjectAccess
}

type orgWorkspace struct{ ID, Name, ProjectID string }

// compile returns team g.team's broker policy: the owners team's is the
// whole organization; any other team's is what its grants and
// organization access give, and the organization's name.
func compile(g grants) string {
	org := g.team.Organization
	o := resource.OrgPath(org)
	header := "runcred team " + g.team.ID + " of organization " + org + ", compiled from its grants: edits last until they change."
	if g.team.Owners {
		return resource.PolicyBody(header, []Rule{
			{Path: o, Caps: []string{"read", "update", "delete"}},
			{Path: o + "/*", Caps: []string{"create", "read", "update", "delete", "list", "sudo"}},
			{Path: resource.WorkspacesPath(org) + "/+/run-variables", Caps: []string{"deny"}},
			{Path: resource.WorkspacesPath(org) + "/+/agent", Caps: []string{"deny"}},
		})
	}
	has := func(name string) bool { return slices.Contains(g.team.OrganizationAccess, name) }
	// Every member reads the organization and the allowlists its runs'
	// credentials are held to, and lists the workspaces it may read.
	rules := []Rule{{Path: o, Caps: []string{"read"}}, {Path: o + "/credential-guard", Caps: []string{"read"}}, {Path: resource.WorkspacesPath(org), Caps: []string{"list"}}}

	// Organization-wide workspace permissions, for every workspace.
	var all WorkspacePermissions
	orgWide := false
	if has(OrgReadWorkspaces) || has(OrgManagePolicyOverrides) {
		all, orgWide = workspaceSets[AccessRead], true
	}
	if has(OrgManageWorkspaces) || has(OrgManageProjects) {
		all, orgWide = workspaceSets[AccessAdmin], true
		rules = append(rules, Rule{Path: resource.WorkspacesPath(org) + "/+", Caps: []string{"create"}})
	}
	if has(OrgManagePolicyOverrides) {
		all.PolicyOverrides = true
	}
	switch {
	case has(OrgManageProjects):
		rules = append(rules, Rule{Path: resource.ProjectsPath(org), Caps: []string{"list"}},
			Rule{Path: resource.ProjectPath(org, "+"), Caps: []string{"create", "read", "update", "delete"}},
			Rule{Path: resource.ProjectPath(org, "+") + "/team-access", Caps: []string{"create", "read", "update", "delete", "list"}})
	case has(OrgManageWorkspaces):
		rules = append(rules, Rule{Path: resource.ProjectsPath(org), Caps: []string{"list"}}, Rule{Path: resource.ProjectPath(org, "+"), Caps: []string{"read", "update"}})
	case has(OrgReadProjects):
		rules = append(rules, Rule{Path: resource.ProjectsPath(org), Caps: []string{"list"}}, Rule{Path: resource.ProjectPath(org, "+"), Caps: []string{"read"}})
	}
	if has(OrgManageProjects) || has(OrgManageWorkspaces) || has(OrgReadProjects) {
		rules = append(rules, Rule{Path: resource.ProjectPath(org, "+") + "/credential-guard", Caps: []string{"read"}})
	}
	if has(OrgManagePolicies) {
		for _, p := range []string{"/policies", "/policy-sets"} {
			rules = append(rules, Rule{Path: o + p, Caps: []string{"create", "read", "update", "delete", "list"}},
				Rule{Path: o + p + "/*", Caps: []string{"create", "read", "update", "delete", "list"}})
		}
	}
	if has(OrgManageAgentPools) {
		rules = append(rules, Rule{Path: resource.PoolsPath(org), Caps: []string{"create", "read", "update", "delete", "list"}},
			Rule{Path: resource.PoolsPath(org) + "/*", Caps: []string{"create", "read", "update", "delete", "list"}})
	}
	if has(OrgManageTeams) {
		rules = append(rules, Rule{Path: resource.TeamsPath(org), Caps: []string{"create", "read", "list"}},
			Rule{Path: resource.TeamsPath(org) + "/+", Caps: []string{"read", "update", "delete"}},
			Rule{Path: resource.TeamsPath(org) + "/+/tokens", Caps: []string{"create", "read", "delete", "list"}},
			Rule{Path: resource.TeamsPath(org) + "/+/tokens/*", Caps: []string{"read", "delete"}})
		if g.ownersID != "" { // the owners team is the owners' to manage
			rules = append(rules, Rule{Path: resource.TeamPath(org, g.ownersID), Caps: []string{"read"}},
				Rule{Path: resource.TeamPath(org, g.ownersID) + "/tokens", Caps: []string{"deny"}},
				Rule{Path: resource.TeamPath(org, g.ownersID) + "/tokens/*", Caps: []string{"deny"}})
		}
	}
	if orgWide {
		rules = append(rules, WorkspaceRules(org, AnyWorkspace, all)...)
	}

	// Grants on projects and workspaces, joined per workspace with the
	// organization-wide permissions: the most specific rule decides, so a
	// workspace's rules must hold everything the team has there.
	byProject := map[string][]ProjectAccess{}
	for _, p := range g.prj {
		byProject[p.ProjectID] = append(byProject[p.ProjectID], p)
		if name, ok := g.projects[p.ProjectID]; ok {
			rules = append(rules, ProjectRules(org, name, p.Project, p.Workspace)...)
		}
	}
	byWorkspace := map[string]WorkspaceAccess{}
	for _, a := range g.ws {
		byWorkspace[a.WorkspaceID] = a
	}
	ws := slices.Clone(g.workspaces)
	sort.Slice(ws, func(i, j int) bool { return ws[i].Name < ws[j].Name })
	for _, w := range ws {
		p, granted := all, orgWide
		if a, ok := byWorkspace[w.ID]; ok {
			p, granted = join(p, granted, a.WorkspacePermissions), true
		}
		for _, pa := range byProject[w.ProjectID] {
			p, granted = join(p, granted, pa.Workspace.WorkspacePermissions), true
		}
		if granted {
			rules = append(rules, WorkspaceRules(org, w.Name, p)...)
		}
	}
	return resource.PolicyBody(header, rules)
}

func join(p WorkspacePermissions, have bool, q WorkspacePermissions) WorkspacePermissions {
	if !have {
		return q
	}
	return p.join(q)
}
