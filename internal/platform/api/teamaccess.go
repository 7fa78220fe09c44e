package api

import (
	"net/http"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/team"
)

// Team access: HCP Terraform's team-workspaces and team-projects, which
// go-tfe's TeamAccess and TeamProjectAccess and the tfe provider's
// tfe_team_access and tfe_team_project_access drive.
func (h *API) mountTeamAccess(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/team-workspaces", h.listTeamWorkspaces)
	route("POST /api/v2/team-workspaces", h.createTeamWorkspace)
	route("GET /api/v2/team-workspaces/{id}", h.readTeamWorkspace)
	route("PATCH /api/v2/team-workspaces/{id}", h.updateTeamWorkspace)
	route("DELETE /api/v2/team-workspaces/{id}", h.deleteTeamWorkspace)

	route("GET /api/v2/team-projects", h.listTeamProjects)
	route("POST /api/v2/team-projects", h.createTeamProject)
	route("GET /api/v2/team-projects/{id}", h.readTeamProject)
	route("PATCH /api/v2/team-projects/{id}", h.updateTeamProject)
	route("DELETE /api/v2/team-projects/{id}", h.deleteTeamProject)
}

type teamRef struct {
	ID string `jsonapi:"primary,teams"`
}

type teamWorkspaceJSON struct {
	ID               string        `jsonapi:"primary,team-workspaces"`
	Access           string        `jsonapi:"attr,access"`
	Runs             string        `jsonapi:"attr,runs"`
	Variables        string        `jsonapi:"attr,variables"`
	StateVersions    string        `jsonapi:"attr,state-versions"`
	SentinelMocks    string        `jsonapi:"attr,sentinel-mocks"`
	WorkspaceLocking bool          `jsonapi:"attr,workspace-locking"`
	RunTasks         bool          `jsonapi:"attr,run-tasks"`
	PolicyOverrides  bool          `jsonapi:"attr,policy-overrides"`
	Team             *teamRef      `jsonapi:"relation,team"`
	Workspace        *workspaceRef `jsonapi:"relation,workspace"`
}

func toTeamWorkspace(a team.WorkspaceAccess) *teamWorkspaceJSON {
	return &teamWorkspaceJSON{ID: a.ID, Access: a.Access, Runs: a.Runs, Variables: a.Variables, StateVersions: a.StateVersions,
		SentinelMocks: a.SentinelMocks, WorkspaceLocking: a.WorkspaceLocking, RunTasks: a.RunTasks, PolicyOverrides: a.PolicyOverrides,
		Team: &teamRef{ID: a.TeamID}, Workspace: &workspaceRef{ID: a.WorkspaceID}}
}

type teamWorkspaceInput struct {
	Type             string        `jsonapi:"primary,team-workspaces"`
	Access           *string       `jsonapi:"attr,access"`
	Runs             *string       `jsonapi:"attr,runs"`
	Variables        *string       `jsonapi:"attr,variables"`
	StateVersions    *string       `jsonapi:"attr,state-versions"`
	SentinelMocks    *string       `jsonapi:"attr,sentinel-mocks"`
	WorkspaceLocking *bool         `jsonapi:"attr,workspace-locking"`
	RunTasks         *bool         `jsonapi:"attr,run-tasks"`
	PolicyOverrides  *bool         `jsonapi:"attr,policy-overrides"`
	Team             *teamRef      `jsonapi:"relation,team"`
	Workspace        *workspaceRef `jsonapi:"relation,workspace"`
}

func (in teamWorkspaceInput) options() team.WorkspaceAccessOptions {
	return team.WorkspaceAccessOptions{Access: in.Access, Runs: in.Runs, Variables: in.Variables, StateVersions: in.StateVersions,
		SentinelMocks: in.SentinelMocks, WorkspaceLocking: in.WorkspaceLocking, RunTasks: in.RunTasks, PolicyOverrides: in.PolicyOverrides}
}

func (h *API) createTeamWorkspace(w http.ResponseWriter, r *http.Request) error {
	var in teamWorkspaceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Team == nil || in.Team.ID == "" {
		return fail.Invalidf("relationship %q is required", "team")
	}
	if in.Workspace == nil || in.Workspace.ID == "" {
		return fail.Invalidf("relationship %q is required", "workspace")
	}
	a, err := h.Service.Teams.CreateWorkspaceAccess(r.Context(), in.Team.ID, in.Workspace.ID, in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toTeamWorkspace(a))
}

func (h *API) readTeamWorkspace(w http.ResponseWriter, r *http.Request) error {
	a, err := h.Service.Teams.WorkspaceAccess(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTeamWorkspace(a))
}

func (h *API) listTeamWorkspaces(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	id := r.URL.Query().Get("filter[workspace][id]")
	if id == "" {
		return fail.Invalidf("filter[workspace][id] is required")
	}
	as, total, err := h.Service.Teams.WorkspaceAccesses(r.Context(), id, pg)
	if err != nil {
		return err
	}
	out := make([]*teamWorkspaceJSON, 0, len(as))
	for _, a := range as {
		out = append(out, toTeamWorkspace(a))
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateTeamWorkspace(w http.ResponseWriter, r *http.Request) error {
	var in teamWorkspaceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Team != nil || in.Workspace != nil {
		return fail.Invalidf("relationships of a team access cannot change; delete it and grant anew")
	}
	a, err := h.Service.Teams.UpdateWorkspaceAccess(r.Context(), r.PathValue("id"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTeamWorkspace(a))
}

func (h *API) deleteTeamWorkspace(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Teams.DeleteWorkspaceAccess(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type teamProjectJSON struct {
	ID              string                    `jsonapi:"primary,team-projects"`
	Access          string                    `jsonapi:"attr,access"`
	ProjectAccess   *projectAccessJSON        `jsonapi:"attr,project-access"`
	WorkspaceAccess *projectWorkspaceAccessJS `jsonapi:"attr,workspace-access"`
	Team            *teamRef                  `jsonapi:"relation,team"`
	Project         *projectRef               `jsonapi:"relation,project"`
}

type projectAccessJSON struct {
	Settings     *string `jsonapi:"attr,settings" json:"settings,omitempty"`
	Teams        *string `jsonapi:"attr,teams" json:"teams,omitempty"`
	VariableSets *string `jsonapi:"attr,variable-sets" json:"variable-sets,omitempty"`
}

type projectWorkspaceAccessJS struct {
	Runs            *string `jsonapi:"attr,runs" json:"runs,omitempty"`
	SentinelMocks   *string `jsonapi:"attr,sentinel-mocks" json:"sentinel-mocks,omitempty"`
	StateVersions   *string `jsonapi:"attr,state-versions" json:"state-versions,omitempty"`
	Variables       *string `jsonapi:"attr,variables" json:"variables,omitempty"`
	Create          *bool   `jsonapi:"attr,create" json:"create,omitempty"`
	Locking         *bool   `jsonapi:"attr,locking" json:"locking,omitempty"`
	Move            *bool   `jsonapi:"attr,move" json:"move,omitempty"`
	Delete          *bool   `jsonapi:"attr,delete" json:"delete,omitempty"`
	RunTasks        *bool   `jsonapi:"attr,run-tasks" json:"run-tasks,omitempty"`
	PolicyOverrides *bool   `jsonapi:"attr,policy-overrides" json:"policy-overrides,omitempty"`
}

func toTeamProject(a team.ProjectAccess) *teamProjectJSON {
	p, w := a.Project, a.Workspace
	return &teamProjectJSON{ID: a.ID, Access: a.Access,
		ProjectAccess: &projectAccessJSON{Settings: ptr(p.Settings), Teams: ptr(p.Teams), VariableSets: ptr(p.VariableSets)},
		WorkspaceAccess: &projectWorkspaceAccessJS{Runs: ptr(w.Runs), SentinelMocks: ptr(w.SentinelMocks), StateVersions: ptr(w.StateVersions),
			Variables: ptr(w.Variables), Create: ptr(w.Create), Locking: ptr(w.WorkspaceLocking), Move: ptr(w.Move), Delete: ptr(w.Delete),
			RunTasks: ptr(w.RunTasks), PolicyOverrides: ptr(w.PolicyOverrides)},
		Team: &teamRef{ID: a.TeamID}, Project: &projectRef{ID: a.ProjectID}}
}

type teamProjectInput struct {
	Type            string                    `jsonapi:"primary,team-projects"`
	Access          *string                   `jsonapi:"attr,access"`
	ProjectAccess   *projectAccessJSON        `jsonapi:"attr,project-access"`
	WorkspaceAccess *projectWorkspaceAccessJS `jsonapi:"attr,workspace-access"`
	Team            *teamRef                  `jsonapi:"relation,team"`
	Project         *projectRef               `jsonapi:"relation,project"`
}

func (in teamProjectInput) options() team.ProjectAccessOptions {
	o := team.ProjectAccessOptions{Access: in.Access}
	if p := in.ProjectAccess; p != nil {
		o.Settings, o.Teams, o.VariableSets = p.Settings, p.Teams, p.VariableSets
	}
	if w := in.WorkspaceAccess; w != nil {
		o.Runs, o.SentinelMocks, o.StateVersions, o.Variables = w.Runs, w.SentinelMocks, w.StateVersions, w.Variables
		o.Create, o.Locking, o.Move, o.Delete, o.RunTasks, o.PolicyOverrides = w.Create, w.Locking, w.Move, w.Delete, w.RunTasks, w.PolicyOverrides
	}
	return o
}

func (h *API) createTeamProject(w http.ResponseWriter, r *http.Request) error {
	var in teamProjectInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Team == nil || in.Team.ID == "" {
		return fail.Invalidf("relationship %q is required", "team")
	}
	if in.Project == nil || in.Project.ID == "" {
		return fail.Invalidf("relationship %q is required", "project")
	}
	a, err := h.Service.Teams.CreateProjectAccess(r.Context(), in.Team.ID, in.Project.ID, in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toTeamProject(a))
}

func (h *API) readTeamProject(w http.ResponseWriter, r *http.Request) error {
	a, err := h.Service.Teams.ProjectAccess(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTeamProject(a))
}

func (h *API) listTeamProjects(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	id := r.URL.Query().Get("filter[project][id]")
	if id == "" {
		return fail.Invalidf("filter[project][id] is required")
	}
	as, total, err := h.Service.Teams.ProjectAccesses(r.Context(), id, pg)
	if err != nil {
		return err
	}
	out := make([]*teamProjectJSON, 0, len(as))
	for _, a := range as {
		out = append(out, toTeamProject(a))
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateTeamProject(w http.ResponseWriter, r *http.Request) error {
	var in teamProjectInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Team != nil || in.Project != nil {
		return fail.Invalidf("relationships of a team access cannot change; delete it and grant anew")
	}
	a, err := h.Service.Teams.UpdateProjectAccess(r.Context(), r.PathValue("id"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTeamProject(a))
}

func (h *API) deleteTeamProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Teams.DeleteProjectAccess(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
