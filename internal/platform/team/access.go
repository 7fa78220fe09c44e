package team

import (
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// Workspace access levels (HCP Terraform's permission sets) and project
// access levels.
const (
	AccessRead     = "read"
	AccessPlan     = "plan"
	AccessWrite    = "write"
	AccessMaintain = "maintain" // projects only
	AccessAdmin    = "admin"
	AccessCustom   = "custom"
)

// WorkspacePermissions are what a team may do in one workspace: HCP
// Terraform's custom workspace permissions, and the two powers only the
// admin set has (settings and team access; deleting the workspace).
type WorkspacePermissions struct {
	Runs             string // read, plan or apply
	Variables        string // none, read or write
	StateVersions    string // none, read-outputs, read or write
	SentinelMocks    string // none or read (runcred has no mocks; kept and returned)
	WorkspaceLocking bool
	RunTasks         bool // runcred has no run tasks; kept and returned
	PolicyOverrides  bool
	Admin            bool // workspace settings, team access, force-unlock
	Delete           bool
}

// workspaceSets are the fixed workspace permission sets.
var workspaceSets = map[string]WorkspacePermissions{
	AccessRead:  {Runs: "read", Variables: "read", StateVersions: "read", SentinelMocks: "none"},
	AccessPlan:  {Runs: "plan", Variables: "read", StateVersions: "read", SentinelMocks: "none"},
	AccessWrite: {Runs: "apply", Variables: "write", StateVersions: "write", SentinelMocks: "read", WorkspaceLocking: true},
	AccessAdmin: {Runs: "apply", Variables: "write", StateVersions: "write", SentinelMocks: "read", WorkspaceLocking: true,
		RunTasks: true, Admin: true, Delete: true},
}

// customDefault is what a custom grant holds before its fields are set.
var customDefault = WorkspacePermissions{Runs: "read", Variables: "none", StateVersions: "none", SentinelMocks: "none"}

// WorkspacePermissionsFor returns the permission set of a fixed access
// level.
func WorkspacePermissionsFor(access string) (WorkspacePermissions, bool) {
	p, ok := workspaceSets[access]
	return p, ok
}

// join is the union of two permissions (a team with grants on a workspace
// and on its project has both).
func (p WorkspacePermissions) join(q WorkspacePermissions) WorkspacePermissions {
	most := func(order []string, a, b string) string {
		if slices.Index(order, a) >= slices.Index(order, b) {
			return a
		}
		return b
	}
	return WorkspacePermissions{
		Runs:             most(runsLevels, p.Runs, q.Runs),
		Variables:        most(variablesLevels, p.Variables, q.Variables),
		StateVersions:    most(stateLevels, p.StateVersions, q.StateVersions),
		SentinelMocks:    most(mocksLevels, p.SentinelMocks, q.SentinelMocks),
		WorkspaceLocking: p.WorkspaceLocking || q.WorkspaceLocking,
		RunTasks:         p.RunTasks || q.RunTasks,
		PolicyOverrides:  p.PolicyOverrides || q.PolicyOverrides,
		Admin:            p.Admin || q.Admin,
		Delete:           p.Delete || q.Delete,
	}
}

// Levels of each permission, least first.
var (
	runsLevels      = []string{"read", "plan", "apply"}
	variablesLevels = []string{"none", "read", "write"}
	stateLevels     = []string{"none", "read-outputs", "read", "write"}
	mocksLevels     = []string{"none", "read"}
	settingsLevels  = []string{"read", "update", "delete"}
	teamsLevels     = []string{"none", "read", "manage"}
)

func oneOf(field, v string, levels []string) error {
	if !slices.Contains(levels, v) {
		return fail.Invalidf("%s must be one of %s", field, strings.Join(levels, ", "))
	}
	return nil
}

// WorkspaceAccess is a team's grant on a workspace (HCP Terraform's
// team-workspaces).
type WorkspaceAccess struct {
	ID          string // tws-…
	TeamID      string
	WorkspaceID string
	Access      string
	WorkspacePermissions
	CreatedAt time.Time
}

// WorkspaceAccessOptions are the settable fields of a workspace grant;
// the custom fields are taken only with access custom.
type WorkspaceAccessOptions struct {
	Access           *string
	Runs             *string
	Variables        *string
	StateVersions    *string
	SentinelMocks    *string
	WorkspaceLocking *bool
	RunTasks         *bool
	PolicyOverrides  *bool
}

func (o WorkspaceAccessOptions) custom() bool {
	return o.Runs != nil || o.Variables != nil || o.StateVersions != nil || o.SentinelMocks != nil ||
		o.WorkspaceLocking != nil || o.RunTasks != nil || o.PolicyOverrides != nil
}

// apply sets a's access and permissions from o. Changing from a fixed set
// to custom starts from that set's permissions, as HCP Terraform does.
func (o WorkspaceAccessOptions) apply(a *WorkspaceAccess) error {
	if o.Access != nil {
		a.Access = *o.Access
	}
	if a.Access == "" {
		return fail.Invalidf("access is required")
	}
	if a.Access != AccessCustom {
		set, ok := workspaceSets[a.Access]
		if !ok {
			return fail.Invalidf("access must be one of read, plan, write, admin, custom")
		}
		if o.custom() {
			return fail.Invalidf("access: permissions may be given only with access %q", AccessCustom)
		}
		a.WorkspacePermissions = set
		return nil
	}
	p := a.WorkspacePermissions
	if p.Runs == "" || p.Admin {
		p = customDefault
	}
	p.Admin, p.Delete = false, false
	set(&p.Runs, o.Runs)
	set(&p.Variables, o.Variables)
	set(&p.StateVersions, o.StateVersions)
	set(&p.SentinelMocks, o.SentinelMocks)
	set(&p.WorkspaceLocking, o.WorkspaceLocking)
	set(&p.RunTasks, o.RunTasks)
	set(&p.PolicyOverrides, o.PolicyOverrides)
	if err := firstErr(oneOf("runs", p.Runs, runsLevels), oneOf("variables", p.Variables, variablesLevels),
		oneOf("state-versions", p.StateVersions, stateLevels), oneOf("sentinel-mocks", p.SentinelMocks, mocksLevels)); err != nil {
		return err
	}
	a.WorkspacePermissions = p
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ProjectPermissions are a team's permissions on a project itself.
type ProjectPermissions struct {
	Settings     string // read, update or delete
	Teams        string // none, read or manage (the project's team access)
	VariableSets string // none, read or write (kept and returned)
}

// ProjectWorkspacePermissions are what a project grant gives on each of
// the project's workspaces, now and later.
type ProjectWorkspacePermissions struct {
	WorkspacePermissions
	Create, Move bool // create workspaces in the project; move them out and in
}

// ProjectAccess is a team's grant on a project (HCP Terraform's
// team-projects).
type ProjectAccess struct {
	ID        string // tprj-…
	TeamID    string
	ProjectID string
	Access    string
	Project   ProjectPermissions
	Workspace ProjectWorkspacePermissions
	CreatedAt time.Time
}

var projectSets = map[string]struct {
	p ProjectPermissions
	w ProjectWorkspacePermissions
}{
	AccessRead:  {ProjectPermissions{"read", "none", "none"}, ProjectWorkspacePermissions{WorkspacePermissions: workspaceSets[AccessRead]}},
	AccessWrite: {ProjectPermissions{"read", "none", "none"}, ProjectWorkspacePermissions{WorkspacePermissions: workspaceSets[AccessWrite]}},
	AccessMaintain: {ProjectPermissions{"read", "none", "read"},
		ProjectWorkspacePermissions{WorkspacePermissions: workspaceSets[AccessAdmin], Create: true}},
	AccessAdmin: {ProjectPermissions{"delete", "manage", "write"},
		ProjectWorkspacePermissions{WorkspacePermissions: workspaceSets[AccessAdmin], Create: true, Move: true}},
}

// ProjectAccessOptions are the settable fields of a project grant; the
// custom fields are taken only with access custom.
type ProjectAccessOptions struct {
	Access       *string
	Settings     *string
	Teams        *string
	VariableSets *string
	Runs         *string
	Variables    *string
	StateVersions,
	SentinelMocks *string
	Create, Locking, Move, Delete, RunTasks, PolicyOverrides *bool
}

func (o ProjectAccessOptions) custom() bool {
	return o.Settings != nil || o.Teams != nil || o.VariableSets != nil || o.Runs != nil || o.Variables != nil ||
		o.StateVersions != nil || o.SentinelMocks != nil || o.Create != nil || o.Locking != nil || o.Move != nil ||
		o.Delete != nil || o.RunTasks != nil || o.PolicyOverrides != nil
}

func (o ProjectAccessOptions) apply(a *ProjectAccess) error {
	if o.Access != nil {
		a.Access = *o.Access
	}
	if a.Access == "" {
		return fail.Invalidf("access is required")
	}
	if a.Access != AccessCustom {
		s, ok := projectSets[a.Access]
		if !ok {
			return fail.Invalidf("access must be one of read, write, maintain, admin, custom")
		}
		if o.custom() {
			return fail.Invalidf("access: permissions may be given only with access %q", AccessCustom)
		}
		a.Project, a.Workspace = s.p, s.w
		return nil
	}
	p, w := a.Project, a.Workspace
	if p.Settings == "" {
		p = ProjectPermissions{"read", "none", "none"}
		w = ProjectWorkspacePermissions{WorkspacePermissions: customDefault}
	}
	w.Admin = false
	set(&p.Settings, o.Settings)
	set(&p.Teams, o.Teams)
	set(&p.VariableSets, o.VariableSets)
	set(&w.Runs, o.Runs)
	set(&w.Variables, o.Variables)
	set(&w.StateVersions, o.StateVersions)
	set(&w.SentinelMocks, o.SentinelMocks)
	set(&w.Create, o.Create)
	set(&w.WorkspaceLocking, o.Locking)
	set(&w.Move, o.Move)
	set(&w.Delete, o.Delete)
	set(&w.RunTasks, o.RunTasks)
	set(&w.PolicyOverrides, o.PolicyOverrides)
	if err := firstErr(oneOf("project-access.settings", p.Settings, settingsLevels), oneOf("project-access.teams", p.Teams, teamsLevels),
		oneOf("project-access.variable-sets", p.VariableSets, variablesLevels),
		oneOf("workspace-access.runs", w.Runs, runsLevels), oneOf("workspace-access.variables", w.Variables, variablesLevels),
		oneOf("workspace-access.state-versions", w.StateVersions, stateLevels),
		oneOf("workspace-access.sentinel-mocks", w.SentinelMocks, mocksLevels)); err != nil {
		return err
	}
	a.Project, a.Workspace = p, w
	return nil
}

// Organization access: HCP Terraform's organization-wide team
// permissions that map to runcred's resources. Others (VCS settings,
// providers, modules, run tasks, membership) have nothing to govern here
// and are refused.
const (
	OrgManageWorkspaces      = "manage-workspaces"
	OrgManageProjects        = "manage-projects"
	OrgManagePolicies        = "manage-policies"
	OrgManagePolicyOverrides = "manage-policy-overrides"
	OrgReadWorkspaces        = "read-workspaces"
	OrgReadProjects          = "read-projects"
	OrgManageTeams           = "manage-teams"
	OrgManageAgentPools      = "manage-agent-pools"
)

// OrganizationAccessNames are the organization access attributes a team
// may hold.
var OrganizationAccessNames = []string{OrgManageAgentPools, OrgManagePolicies, OrgManagePolicyOverrides, OrgManageProjects,
	OrgManageTeams, OrgManageWorkspaces, OrgReadProjects, OrgReadWorkspaces}
