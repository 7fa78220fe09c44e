package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/respond"
)

func (h *API) mountVarsets(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/organizations/{org}/varsets", h.listVarsets)
	route("POST /api/v2/organizations/{org}/varsets", h.createVarset)
	route("GET /api/v2/varsets/{id}", h.readVarset)
	route("PATCH /api/v2/varsets/{id}", h.updateVarset)
	route("DELETE /api/v2/varsets/{id}", h.deleteVarset)
	route("GET /api/v2/workspaces/{id}/varsets", h.listWorkspaceVarsets)
	route("GET /api/v2/projects/{id}/varsets", h.listProjectVarsets)

	route("POST /api/v2/varsets/{id}/relationships/workspaces", h.applyVarset("workspaces", true))
	route("DELETE /api/v2/varsets/{id}/relationships/workspaces", h.applyVarset("workspaces", false))
	route("POST /api/v2/varsets/{id}/relationships/projects", h.applyVarset("projects", true))
	route("DELETE /api/v2/varsets/{id}/relationships/projects", h.applyVarset("projects", false))

	route("GET /api/v2/varsets/{id}/relationships/vars", h.listVarsetVariables)
	route("POST /api/v2/varsets/{id}/relationships/vars", h.createVarsetVariable)
	route("GET /api/v2/varsets/{id}/relationships/vars/{var}", h.readVarsetVariable)
	route("PATCH /api/v2/varsets/{id}/relationships/vars/{var}", h.updateVarsetVariable)
	route("DELETE /api/v2/varsets/{id}/relationships/vars/{var}", h.deleteVarsetVariable)
}

type varset struct {
	ID             string            `jsonapi:"primary,varsets"`
	Name           string            `jsonapi:"attr,name"`
	Description    string            `jsonapi:"attr,description"`
	Global         bool              `jsonapi:"attr,global"`
	Priority       bool              `jsonapi:"attr,priority"`
	UpdatedAt      time.Time         `jsonapi:"attr,updated-at,iso8601"`
	VarCount       int               `jsonapi:"attr,var-count"`
	WorkspaceCount int               `jsonapi:"attr,workspace-count"`
	ProjectCount   int               `jsonapi:"attr,project-count"`
	Organization   *organizationJSON `jsonapi:"relation,organization"`
	Parent         *varsetParent     `jsonapi:"polyrelation,parent"`
	Workspaces     []*workspaceJSON  `jsonapi:"relation,workspaces"`
	Projects       []*projectJSON    `jsonapi:"relation,projects"`
	Variables      []*variableRef    `jsonapi:"relation,vars"`
}

// varsetParent is the owner of a set: always its organization in runcred.
type varsetParent struct {
	Organization *organizationJSON
	Project      *projectRef
}

type variableRef struct {
	ID string `jsonapi:"primary,vars"`
}

type varsetRef struct {
	ID string `jsonapi:"primary,varsets"`
}

func toVarset(v variable.Set) *varset {
	out := &varset{
		ID: v.ID, Name: v.Name, Description: v.Description, Global: v.Global, UpdatedAt: v.UpdatedAt,
		VarCount: len(v.Variables), WorkspaceCount: len(v.Workspaces), ProjectCount: len(v.Projects),
		Organization: &organizationJSON{Name: v.Organization}, Parent: &varsetParent{Organization: &organizationJSON{Name: v.Organization}},
		Workspaces: workspaceRefs(v.Workspaces), Projects: make([]*projectJSON, 0, len(v.Projects)),
		Variables: make([]*variableRef, 0, len(v.Variables)),
	}
	for _, id := range v.Projects {
		out.Projects = append(out.Projects, &projectJSON{ID: id})
	}
	for _, id := range v.Variables {
		out.Variables = append(out.Variables, &variableRef{ID: id})
	}
	return out
}

type varsetInput struct {
	Type        string          `jsonapi:"primary,varsets"`
	Name        *string         `jsonapi:"attr,name"`
	Description *string         `jsonapi:"attr,description"`
	Global      *bool           `jsonapi:"attr,global"`
	Priority    *bool           `jsonapi:"attr,priority"`
	Parent      *varsetParent   `jsonapi:"polyrelation,parent"`
	Workspaces  []*workspaceRef `jsonapi:"relation,workspaces"`
}

// varsetOptions reads a variable set document. A workspaces relationship
// that is present replaces the set's workspaces (go-tfe's UpdateWorkspaces).
func varsetOptions(r *http.Request, org string) (variable.SetOptions, error) {
	var in varsetInput
	raw, err := decodeRaw(r, &in)
	if err != nil {
		return variable.SetOptions{}, err
	}
	if in.Parent != nil {
		if in.Parent.Project != nil {
			return variable.SetOptions{}, fail.Invalidf("variable sets owned by a project are not supported; create the set in the organization and apply it to the project")
		}
		if in.Parent.Organization != nil && org != "" && in.Parent.Organization.Name != org {
			return variable.SetOptions{}, fail.Invalidf("a variable set's parent must be the organization it is created in")
		}
	}
	o := variable.SetOptions{Name: in.Name, Description: in.Description, Global: in.Global, Priority: in.Priority}
	if hasRelationship(raw, "workspaces") {
		ids := make([]string, 0, len(in.Workspaces))
		for _, w := range in.Workspaces {
			ids = append(ids, w.ID)
		}
		o.Workspaces = &ids
	}
	return o, nil
}

func (h *API) createVarset(w http.ResponseWriter, r *http.Request) error {
	o, err := varsetOptions(r, r.PathValue("org"))
	if err != nil {
		return err
	}
	v, err := h.Service.Variables.CreateVariableSet(r.Context(), r.PathValue("org"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toVarset(v))
}

func (h *API) readVarset(w http.ResponseWriter, r *http.Request) error {
	v, err := h.Service.Variables.VariableSet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeIncluded(w, http.StatusOK, h.varsetDoc(r, v))
}

// varsetDoc is v's document with the workspaces ?include=workspaces asks
// for: those the caller may read, in full; the others by id only.
func (h *API) varsetDoc(r *http.Request, v variable.Set) *varset {
	out := toVarset(v)
	if !slices.Contains(includes(r), "workspaces") {
		return out
	}
	for i, ref := range out.Workspaces {
		if ws, err := h.Service.Workspaces.WorkspaceByID(r.Context(), ref.ID); err == nil {
			out.Workspaces[i] = toWorkspace(ws)
		}
	}
	return out
}

func (h *API) updateVarset(w http.ResponseWriter, r *http.Request) error {
	o, err := varsetOptions(r, "")
	if err != nil {
		return err
	}
	v, err := h.Service.Variables.UpdateVariableSet(r.Context(), r.PathValue("id"), o)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toVarset(v))
}

func (h *API) deleteVarset(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Variables.DeleteVariableSet(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *API) listVarsets(w http.ResponseWriter, r *http.Request) error {
	return h.writeVarsets(w, r, h.Service.Variables.VariableSets, r.PathValue("org"))
}

func (h *API) listWorkspaceVarsets(w http.ResponseWriter, r *http.Request) error {
	return h.writeVarsets(w, r, h.Service.Variables.VariableSetsForWorkspace, r.PathValue("id"))
}

func (h *API) listProjectVarsets(w http.ResponseWriter, r *http.Request) error {
	return h.writeVarsets(w, r, h.Service.Variables.VariableSetsForProject, r.PathValue("id"))
}

type varsetLister func(ctx context.Context, owner string, f variable.SetFilter) ([]variable.Set, int, error)

func (h *API) writeVarsets(w http.ResponseWriter, r *http.Request, list varsetLister, owner string) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	vs, total, err := list(r.Context(), owner, variable.SetFilter{Search: r.URL.Query().Get("q"), Page: pg})
	if err != nil {
		return err
	}
	out := make([]*varset, 0, len(vs))
	for _, v := range vs {
		out = append(out, h.varsetDoc(r, v))
	}
	return writeListIncluded(w, out, pg, total, slices.Contains(includes(r), "workspaces"))
}

// refIDs reads the ids of a relationship document: {"data":[{"type":…,"id":…}]}.
func refIDs(r *http.Request, typ string) ([]string, error) {
	b, err := respond.ReadBody(r)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Data []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, errMalformed{"request body must be a JSON:API document listing " + typ}
	}
	ids := make([]string, 0, len(doc.Data))
	for _, d := range doc.Data {
		if d.Type != typ {
			return nil, errMalformed{"request body must list only " + typ}
		}
		ids = append(ids, d.ID)
	}
	return ids, nil
}

func (h *API) applyVarset(kind string, apply bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ids, err := refIDs(r, kind)
		if err != nil {
			return err
		}
		id := r.PathValue("id")
		switch {
		case kind == "workspaces" && apply:
			err = h.Service.Variables.ApplyVariableSetToWorkspaces(r.Context(), id, ids)
		case kind == "workspaces":
			err = h.Service.Variables.RemoveVariableSetFromWorkspaces(r.Context(), id, ids)
		case apply:
			err = h.Service.Variables.ApplyVariableSetToProjects(r.Context(), id, ids)
		default:
			err = h.Service.Variables.RemoveVariableSetFromProjects(r.Context(), id, ids)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

type varsetVariable struct {
	ID          string     `jsonapi:"primary,vars"`
	Key         string     `jsonapi:"attr,key"`
	Value       string     `jsonapi:"attr,value"`
	Description string     `jsonapi:"attr,description"`
	Category    string     `jsonapi:"attr,category"`
	HCL         bool       `jsonapi:"attr,hcl"`
	Sensitive   bool       `jsonapi:"attr,sensitive"`
	VersionID   string     `jsonapi:"attr,version-id"`
	Varset      *varsetRef `jsonapi:"relation,varset"`

	// runcred's provenance, as on workspace variables.
	WrittenByKind        string    `jsonapi:"attr,written-by-kind"`
	WrittenByID          string    `jsonapi:"attr,written-by-id"`
	WrittenByName        string    `jsonapi:"attr,written-by-name"`
	WrittenByWorkspaceID *string   `jsonapi:"attr,written-by-workspace-id"`
	WrittenAt            time.Time `jsonapi:"attr,written-at,iso8601"`
}

func toVarsetVariable(v variable.SetVariable) *varsetVariable {
	return &varsetVariable{
		ID: v.ID, Key: v.Key, Value: v.Value, Description: v.Description, Category: v.Category,
		HCL: v.HCL, Sensitive: v.Sensitive, VersionID: v.VersionID, Varset: &varsetRef{ID: v.VarsetID},
		WrittenByKind: string(v.WrittenBy.Kind), WrittenByID: v.WrittenBy.ID, WrittenByName: v.WrittenBy.Name,
		WrittenByWorkspaceID: orNil(v.WrittenBy.WorkspaceID), WrittenAt: v.WrittenAt,
	}
}

func (h *API) createVarsetVariable(w http.ResponseWriter, r *http.Request) error {
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := h.Service.Variables.CreateSetVariable(r.Context(), r.PathValue("id"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toVarsetVariable(v))
}

func (h *API) readVarsetVariable(w http.ResponseWriter, r *http.Request) error {
	v, err := h.Service.Variables.SetVariable(r.Context(), r.PathValue("id"), r.PathValue("var"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toVarsetVariable(v))
}

// listVarsetVariables returns every variable on one page, as for a workspace's.
func (h *API) listVarsetVariables(w http.ResponseWriter, r *http.Request) error {
	vs, err := h.Service.Variables.SetVariables(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]*varsetVariable, 0, len(vs))
	for _, v := range vs {
		out = append(out, toVarsetVariable(v))
	}
	return writeList(w, out, resource.Page{Number: 1, Size: max(len(out), 1)}, len(out))
}

func (h *API) updateVarsetVariable(w http.ResponseWriter, r *http.Request) error {
	var in variableInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := h.Service.Variables.UpdateSetVariable(r.Context(), r.PathValue("id"), r.PathValue("var"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toVarsetVariable(v))
}

func (h *API) deleteVarsetVariable(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Variables.DeleteSetVariable(r.Context(), r.PathValue("id"), r.PathValue("var")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
