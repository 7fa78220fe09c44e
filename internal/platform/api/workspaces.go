package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/tag"
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
	raw, err := decodeRaw(r, &in)
	if err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	bindings, err := workspaceBindings(raw, true)
	if err != nil {
		return err
	}
	if err := tag.Valid(bindings); err != nil {
		return err
	}
	ws, err := h.Service.Workspaces.Create(r.Context(), r.PathValue("org"), in.options())
	if err != nil {
		return err
	}
	if len(bindings) > 0 {
		if _, err := h.Service.Tags.SetWorkspace(r.Context(), ws.ID, bindings); err != nil {
			return err
		}
	}
	return h.writeWorkspace(w, r, http.StatusCreated, ws)
}

func (h *API) writeWorkspace(w http.ResponseWriter, r *http.Request, code int, ws workspace.Workspace) error {
	doc, err := h.workspaceDoc(r, ws)
	if err != nil {
		return err
	}
	return writeIncluded(w, code, doc)
}

func (h *API) readWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.target(r)
	if err != nil {
		return err
	}
	return h.writeWorkspace(w, r, http.StatusOK, ws)
}

func (h *API) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := workspace.Filter{Search: q.Get("search[name]"), ProjectID: q.Get("filter[project][id]"), Tags: searchTags(r), Page: pg}
	wss, total, err := h.Service.Workspaces.Workspaces(r.Context(), r.PathValue("org"), f)
	if err != nil {
		return err
	}
	out := make([]*workspaceJSON, 0, len(wss))
	for _, ws := range wss {
		doc, err := h.workspaceDoc(r, ws)
		if err != nil {
			return err
		}
		out = append(out, doc)
	}
	return writeList(w, out, pg, total)
}

func (h *API) updateWorkspace(w http.ResponseWriter, r *http.Request) error {
	var in workspaceInput
	raw, err := decodeRaw(r, &in)
	if err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	bindings, err := workspaceBindings(raw, false)
	if err != nil {
		return err
	}
	if err := tag.Valid(bindings); err != nil {
		return err
	}
	ws, err := h.target(r)
	if err != nil {
		return err
	}
	if ws, err = h.Service.Workspaces.Update(r.Context(), ws.ID, in.options()); err != nil {
		return err
	}
	// The relationship, when the document has it, replaces the bindings.
	if bindings != nil {
		if _, err := h.Service.Tags.SetWorkspace(r.Context(), ws.ID, bindings); err != nil {
			return err
		}
	}
	return h.writeWorkspace(w, r, http.StatusOK, ws)
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
	case "safe-delete":
		return h.safeDelete(w, r, id)
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, toWorkspace(ws))
}

// safeDelete deletes a workspace only when its state manages nothing.
func (h *API) safeDelete(w http.ResponseWriter, r *http.Request, id string) error {
	n, err := h.Service.StateVersions.ResourceCount(r.Context(), id)
	if err != nil {
		return err
	}
	if n > 0 {
		return fail.Conflictf("the workspace manages %d resources; destroy them first", n)
	}
	if err := h.Service.Workspaces.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// remoteStateConsumers lists the workspaces whose run tokens may read a
// workspace's outputs (besides every workspace of the organization when
// it has global-remote-state).
func (h *API) remoteStateConsumers(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ws, total, err := h.Service.Workspaces.RemoteStateConsumers(r.Context(), r.PathValue("id"), pg)
	if err != nil {
		return err
	}
	out := make([]*workspaceJSON, 0, len(ws))
	for _, c := range ws {
		out = append(out, toWorkspace(c))
	}
	return writeList(w, out, pg, total)
}

// changeRemoteStateConsumers adds (POST), replaces (PATCH) or removes
// (DELETE) consumers, given as {"data":[{"type":"workspaces","id":…}]}.
func (h *API) changeRemoteStateConsumers(w http.ResponseWriter, r *http.Request) error {
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var doc struct {
		Data []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	}
	if !json.Valid(b) || json.Unmarshal(b, &doc) != nil || doc.Data == nil {
		return errMalformed{"request body must be {\"data\": [workspaces]}"}
	}
	ids := make([]string, 0, len(doc.Data))
	for i, d := range doc.Data {
		if d.Type != "workspaces" {
			return fail.Invalidf("data[%d].type must be %q", i, "workspaces")
		}
		ids = append(ids, d.ID)
	}
	op := map[string]workspace.ConsumerChange{"POST": workspace.ConsumersAdd, "PATCH": workspace.ConsumersReplace, "DELETE": workspace.ConsumersRemove}[r.Method]
	if err := h.Service.Workspaces.ChangeRemoteStateConsumers(r.Context(), r.PathValue("id"), ids, op); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
