package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/respond"
)

func (h *API) mountTeams(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/organizations/{org}/teams", h.listTeams)
	route("POST /api/v2/organizations/{org}/teams", h.createTeam)
	route("GET /api/v2/teams/{id}", h.readTeam)
	route("PATCH /api/v2/teams/{id}", h.updateTeam)
	route("DELETE /api/v2/teams/{id}", h.deleteTeam)

	route("POST /api/v2/teams/{id}/authentication-token", h.createTeamToken)
	route("GET /api/v2/teams/{id}/authentication-token", h.readTeamToken)
	route("DELETE /api/v2/teams/{id}/authentication-token", h.deleteTeamToken)
	route("POST /api/v2/teams/{id}/authentication-tokens", h.createTeamToken)
	route("GET /api/v2/organizations/{org}/team-tokens", h.listTeamTokens)
}

type teamJSON struct {
	ID                         string                  `jsonapi:"primary,teams"`
	Name                       string                  `jsonapi:"attr,name"`
	Visibility                 string                  `jsonapi:"attr,visibility"`
	UsersCount                 int                     `jsonapi:"attr,users-count"`
	IsUnified                  bool                    `jsonapi:"attr,is-unified"`
	AllowMemberTokenManagement bool                    `jsonapi:"attr,allow-member-token-management"`
	OrganizationAccess         *organizationAccessJSON `jsonapi:"attr,organization-access"`
	SSOTeamID                  string                  `jsonapi:"attr,sso-team-id"`
	Organization               *organizationJSON       `jsonapi:"relation,organization,omitempty"`
}

// organizationAccessJSON is HCP Terraform's organization-wide permissions
// of a team. Those that govern something in runcred
// (team.OrganizationAccessNames) are kept and compiled into the team's
// policy; the others read false and only false is accepted. The owners
// team reads every one true.
type organizationAccessJSON struct {
	ManagePolicies           *bool `jsonapi:"attr,manage-policies" json:"manage-policies"`
	ManagePolicyOverrides    *bool `jsonapi:"attr,manage-policy-overrides" json:"manage-policy-overrides"`
	DelegatePolicyOverrides  *bool `jsonapi:"attr,delegate-policy-overrides" json:"delegate-policy-overrides"`
	ManageWorkspaces         *bool `jsonapi:"attr,manage-workspaces" json:"manage-workspaces"`
	ManageVCSSettings        *bool `jsonapi:"attr,manage-vcs-settings" json:"manage-vcs-settings"`
	ManageProviders          *bool `jsonapi:"attr,manage-providers" json:"manage-providers"`
	ManageModules            *bool `jsonapi:"attr,manage-modules" json:"manage-modules"`
	ManageRunTasks           *bool `jsonapi:"attr,manage-run-tasks" json:"manage-run-tasks"`
	ManageProjects           *bool `jsonapi:"attr,manage-projects" json:"manage-projects"`
	ReadWorkspaces           *bool `jsonapi:"attr,read-workspaces" json:"read-workspaces"`
	ReadProjects             *bool `jsonapi:"attr,read-projects" json:"read-projects"`
	ManageMembership         *bool `jsonapi:"attr,manage-membership" json:"manage-membership"`
	ManageTeams              *bool `jsonapi:"attr,manage-teams" json:"manage-teams"`
	ManageOrganizationAccess *bool `jsonapi:"attr,manage-organization-access" json:"manage-organization-access"`
	AccessSecretTeams        *bool `jsonapi:"attr,access-secret-teams" json:"access-secret-teams"`
	ManageAgentPools         *bool `jsonapi:"attr,manage-agent-pools" json:"manage-agent-pools"`
}

// asMap is a's attributes by name; absent ones are left out.
func (a *organizationAccessJSON) asMap() map[string]bool {
	if a == nil {
		return nil
	}
	b, _ := json.Marshal(a)
	var grants map[string]*bool
	_ = json.Unmarshal(b, &grants)
	out := map[string]bool{}
	for name, v := range grants {
		if v != nil {
			out[name] = *v
		}
	}
	return out
}

func organizationAccessOf(t team.Team) *organizationAccessJSON {
	all := map[string]*bool{}
	var a organizationAccessJSON
	b, _ := json.Marshal(a)
	_ = json.Unmarshal(b, &all)
	for name := range all {
		all[name] = ptr(t.Owners || slices.Contains(t.OrganizationAccess, name))
	}
	b, _ = json.Marshal(all)
	_ = json.Unmarshal(b, &a)
	return &a
}

func toTeam(t team.Team) *teamJSON {
	return &teamJSON{ID: t.ID, Name: t.Name, Visibility: t.Visibility, AllowMemberTokenManagement: t.AllowMemberTokenManagement,
		OrganizationAccess: organizationAccessOf(t), Organization: &organizationJSON{Name: t.Organization}}
}

// teamInput takes what a team has in runcred.
type teamInput struct {
	Type                       string                  `jsonapi:"primary,teams"`
	Name                       *string                 `jsonapi:"attr,name"`
	Visibility                 *string                 `jsonapi:"attr,visibility"`
	AllowMemberTokenManagement *bool                   `jsonapi:"attr,allow-member-token-management"`
	OrganizationAccess         *organizationAccessJSON `jsonapi:"attr,organization-access"`
	// runcred has no SSO: only no team id ("" or null) is accepted.
	SSOTeamID *string `jsonapi:"attr,sso-team-id"`
}

func (in teamInput) options() (team.Options, error) {
	o := team.Options{Name: in.Name, Visibility: in.Visibility, AllowMemberTokenManagement: in.AllowMemberTokenManagement,
		OrganizationAccess: in.OrganizationAccess.asMap()}
	return o, settled("sso-team-id", in.SSOTeamID, "")
}

func (h *API) createTeam(w http.ResponseWriter, r *http.Request) error {
	var in teamInput
	if err := decode(r, &in); err != nil {
		return err
	}
	o, err := in.options()
	if err != nil {
		return err
	}
	t, err := h.Service.Teams.Create(r.Context(), r.PathValue("org"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toTeam(t))
}

func (h *API) readTeam(w http.ResponseWriter, r *http.Request) error {
	t, err := h.Service.Teams.Team(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTeam(t))
}

func (h *API) listTeams(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := team.Filter{Search: q.Get("q"), Page: pg}
	for _, names := range q["filter[names]"] { // go-tfe joins them with ','
		f.Names = append(f.Names, strings.Split(names, ",")...)
	}
	ts, total, err := h.Service.Teams.Teams(r.Context(), r.PathValue("org"), f)
	if err != nil {
		return err
	}
	out := make([]*teamJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, toTeam(t))
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateTeam(w http.ResponseWriter, r *http.Request) error {
	var in teamInput
	if err := decode(r, &in); err != nil {
		return err
	}
	o, err := in.options()
	if err != nil {
		return err
	}
	t, err := h.Service.Teams.Update(r.Context(), r.PathValue("id"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toTeam(t))
}

func (h *API) deleteTeam(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Teams.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// teamTokenOptions reads a team token request. go-tfe sends its options as
// a JSON:API document without a type, so the attributes are read as plain
// JSON. On the legacy path (authentication-token) a description is ignored.
func teamTokenOptions(r *http.Request) (team.TokenOptions, error) {
	b, err := respond.ReadBody(r)
	if err != nil {
		return team.TokenOptions{}, err
	}
	var doc struct {
		Data *struct {
			Attributes struct {
				Description *string `json:"description"`
				ExpiredAt   *string `json:"expired-at"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &doc); err != nil {
			return team.TokenOptions{}, errMalformed{"request body is not a valid JSON:API document for this resource"}
		}
	}
	var o team.TokenOptions
	if doc.Data == nil {
		return o, nil
	}
	if strings.HasSuffix(r.URL.Path, "/authentication-tokens") {
		d := ""
		if doc.Data.Attributes.Description != nil {
			d = *doc.Data.Attributes.Description
		}
		o.Description = &d
	}
	if e := doc.Data.Attributes.ExpiredAt; e != nil {
		t, err := time.Parse(time.RFC3339, *e)
		if err != nil {
			return o, fail.Invalidf("expired-at must be an ISO 8601 time")
		}
		o.ExpiresAt = &t
	}
	return o, nil
}

func (h *API) createTeamToken(w http.ResponseWriter, r *http.Request) error {
	o, err := teamTokenOptions(r)
	if err != nil {
		return err
	}
	t, err := h.Service.Teams.CreateToken(r.Context(), r.PathValue("id"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toAuthToken(t))
}

func (h *API) readTeamToken(w http.ResponseWriter, r *http.Request) error {
	t, err := h.Service.Teams.Token(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toAuthToken(t))
}

func (h *API) deleteTeamToken(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Teams.DeleteToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *API) listTeamTokens(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ts, total, err := h.Service.Teams.Tokens(r.Context(), r.PathValue("org"), pg)
	if err != nil {
		return err
	}
	return writeTokens(w, ts, pg, total)
}
