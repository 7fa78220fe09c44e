package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/respond"
)

// A workspace's run-token grants are runcred's own resource, type
// runcred-run-token-grants, one per workspace:
//
//	GET|PATCH /api/v2/workspaces/:id/runcred-run-token-grants
//
// with one attribute, grants: a list of {"project-id": …} or
// {"workspace-id": …} objects, each with "permission":
// "manage-workspaces-and-variables". A PATCH replaces the list. Reading
// needs read on the workspace; a PATCH needs update on the organization's
// run-token-grants path (workspace.GrantsPath).

const grantsType = "runcred-run-token-grants"

func (h *API) mountRunTokenGrants(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/workspaces/{id}/runcred-run-token-grants", h.readRunTokenGrants)
	route("PATCH /api/v2/workspaces/{id}/runcred-run-token-grants", h.updateRunTokenGrants)
}

type grantJSON struct {
	ProjectID   string `json:"project-id,omitempty"`
	WorkspaceID string `json:"workspace-id,omitempty"`
	Permission  string `json:"permission"`
}

type grantsJSON struct {
	ID     string      `jsonapi:"primary,runcred-run-token-grants"`
	Grants []grantJSON `jsonapi:"attr,grants"`
}

func toGrants(id string, gs []workspace.Grant) *grantsJSON {
	out := &grantsJSON{ID: id, Grants: []grantJSON{}}
	for _, g := range gs {
		out.Grants = append(out.Grants, grantJSON{ProjectID: g.ProjectID, WorkspaceID: g.WorkspaceID, Permission: g.Permission})
	}
	return out
}

func (h *API) readRunTokenGrants(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	gs, err := h.Service.Workspaces.RunTokenGrants(r.Context(), id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toGrants(id, gs))
}

func (h *API) updateRunTokenGrants(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	gs, err := decodeGrants(r)
	if err != nil {
		return err
	}
	if gs, err = h.Service.Workspaces.SetRunTokenGrants(r.Context(), id, gs); err != nil {
		return err
	}
	return write(w, http.StatusOK, toGrants(id, gs))
}

// decodeGrants reads a PATCH document strictly: the resource's type, the
// one attribute grants, and grants of known fields only, each a 422 naming
// what is wrong.
func decodeGrants(r *http.Request) ([]workspace.Grant, error) {
	b, err := respond.ReadBody(r)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Data *struct {
			Type       string          `json:"type"`
			Attributes json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if !json.Valid(b) || json.Unmarshal(b, &doc) != nil || doc.Data == nil {
		return nil, errMalformed{"request body is not a valid JSON:API document for this resource"}
	}
	if doc.Data.Type != grantsType {
		return nil, fail.Invalidf("data.type must be %q", grantsType)
	}
	var attrs map[string]json.RawMessage
	if json.Unmarshal(doc.Data.Attributes, &attrs) != nil || attrs == nil {
		return nil, fail.Invalidf("data.attributes must be an object holding grants")
	}
	for name := range attrs {
		if name != "grants" {
			return nil, fail.Invalidf("unknown attribute %q", fail.Clip(name))
		}
	}
	raw, ok := attrs["grants"]
	if !ok {
		return nil, fail.Invalidf("attribute %q is required", "grants")
	}
	var in []json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return nil, fail.Invalidf("grants must be an array")
	}
	out := make([]workspace.Grant, 0, len(in))
	for i, one := range in {
		var g grantJSON
		dec := json.NewDecoder(bytes.NewReader(one))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			return nil, fail.Invalidf("grants[%d] must be an object of project-id or workspace-id, and permission", i)
		}
		out = append(out, workspace.Grant{ProjectID: g.ProjectID, WorkspaceID: g.WorkspaceID, Permission: g.Permission})
	}
	return out, nil
}
