package api

import (
	"net/http"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/runtrigger"
)

// Run triggers as HCP Terraform's API has them (go-tfe's RunTriggers,
// terraform-provider-tfe's tfe_run_trigger).

type runTriggerJSON struct {
	ID             string         `jsonapi:"primary,run-triggers"`
	WorkspaceName  string         `jsonapi:"attr,workspace-name"`
	SourceableName string         `jsonapi:"attr,sourceable-name"`
	CreatedAt      time.Time      `jsonapi:"attr,created-at,iso8601"`
	Workspace      *workspaceJSON `jsonapi:"relation,workspace"`
	Sourceable     *workspaceJSON `jsonapi:"relation,sourceable"`
}

type runTriggerInput struct {
	Type       string        `jsonapi:"primary,run-triggers"`
	Sourceable *workspaceRef `jsonapi:"relation,sourceable"`
}

func toRunTrigger(t runtrigger.Trigger) *runTriggerJSON {
	return &runTriggerJSON{ID: t.ID, WorkspaceName: t.WorkspaceName, SourceableName: t.SourceableName, CreatedAt: t.CreatedAt,
		Workspace: &workspaceJSON{ID: t.WorkspaceID}, Sourceable: &workspaceJSON{ID: t.SourceableID}}
}

func (h *API) mountRunTriggers(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/workspaces/{id}/run-triggers", h.listRunTriggers)
	route("POST /api/v2/workspaces/{id}/run-triggers", h.createRunTrigger)
	route("GET /api/v2/run-triggers/{id}", h.readRunTrigger)
	route("DELETE /api/v2/run-triggers/{id}", h.deleteRunTrigger)
}

func (h *API) createRunTrigger(w http.ResponseWriter, r *http.Request) error {
	var in runTriggerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Sourceable == nil || in.Sourceable.ID == "" {
		return fail.Invalidf("relationship %q is required: the source workspace", "sourceable")
	}
	t, err := h.Service.RunTriggers.Create(r.Context(), r.PathValue("id"), in.Sourceable.ID)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toRunTrigger(t))
}

func (h *API) readRunTrigger(w http.ResponseWriter, r *http.Request) error {
	t, err := h.Service.RunTriggers.Trigger(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toRunTrigger(t))
}

// listRunTriggers lists a workspace's triggers of the direction
// filter[run-trigger][type] names (required, as in HCP Terraform). With
// ?include=workspace,sourceable, the workspaces the caller may read come
// with the list.
func (h *API) listRunTriggers(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	d := runtrigger.Direction(r.URL.Query().Get("filter[run-trigger][type]"))
	if err := runtrigger.ValidDirection(d); err != nil {
		return err
	}
	include := false
	for _, inc := range includes(r) {
		if inc != "workspace" && inc != "sourceable" {
			return fail.Invalidf("include %q: run triggers include only %q and %q", fail.Clip(inc), "workspace", "sourceable")
		}
		include = true
	}
	ts, total, err := h.Service.RunTriggers.List(r.Context(), r.PathValue("id"), d, pg)
	if err != nil {
		return err
	}
	out := make([]*runTriggerJSON, 0, len(ts))
	for _, t := range ts {
		doc := toRunTrigger(t)
		if include {
			doc.Workspace, doc.Sourceable = h.readableWorkspace(r, t.WorkspaceID), h.readableWorkspace(r, t.SourceableID)
		}
		out = append(out, doc)
	}
	return writeListIncluded(w, out, pg, total, include)
}

// readableWorkspace is workspace id's document if the caller may read it,
// else a reference to it.
func (h *API) readableWorkspace(r *http.Request, id string) *workspaceJSON {
	ws, err := h.Service.Workspaces.WorkspaceByID(r.Context(), id)
	if err != nil {
		return &workspaceJSON{ID: id}
	}
	return toWorkspace(ws)
}

func (h *API) deleteRunTrigger(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.RunTriggers.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
