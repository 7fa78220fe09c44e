package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/respond"
)

// target resolves the workspace a request names, by id
// (/workspaces/{id}) or by organization and name.
func (h *API) target(r *http.Request) (workspace.Workspace, error) {
	if id := r.PathValue("id"); id != "" {
		return h.Service.Workspaces.WorkspaceByID(r.Context(), id)
	}
	return h.Service.Workspaces.Workspace(r.Context(), r.PathValue("org"), r.PathValue("name"))
}

func (h *API) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	var in workspaceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ws, err := h.Service.Workspaces.Create(r.Context(), r.PathValue("org"), in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, toWorkspace(ws))
}

func (h *API) readWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.target(r)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toWorkspace(ws))
}

func (h *API) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := workspace.Filter{Search: q.Get("search[name]"), ProjectID: q.Get("filter[project][id]"), Page: pg}
	wss, total, err := h.Service.Workspaces.Workspaces(r.Context(), r.PathValue("org"), f)
	if err != nil {
		return err
	}
	out := make([]*workspaceJSON, 0, len(wss))
	for _, ws := range wss {
		out = append(out, toWorkspace(ws))
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateWorkspace(w http.ResponseWriter, r *http.Request) error {
	var in workspaceInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ws, err := h.target(r)
	if err != nil {
		return err
	}
	ws, err = h.Service.Workspaces.Update(r.Context(), ws.ID, in.options())
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toWorkspace(ws))
}

func (h *API) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.target(r)
	if err != nil {
		return err
	}
	if err := h.Service.Workspaces.Delete(r.Context(), ws.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// lockAction locks, unlocks or force-unlocks a workspace. go-tfe sends the
// lock's reason as {"reason": "..."}; the answer is the workspace.
func (h *API) lockAction(w http.ResponseWriter, r *http.Request) error {
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &in); err != nil {
			return errMalformed{"request body must be {\"reason\": \"...\"}"}
		}
	}
	id := r.PathValue("id")
	var ws workspace.Workspace
	switch r.PathValue("action") {
	case "lock":
		ws, err = h.Service.Runs.LockWorkspace(r.Context(), id, in.Reason)
	case "unlock":
		ws, err = h.Service.Runs.UnlockWorkspace(r.Context(), id, false)
	case "force-unlock":
		ws, err = h.Service.Runs.UnlockWorkspace(r.Context(), id, true)
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toWorkspace(ws))
}
