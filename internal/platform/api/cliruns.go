package api

import (
	"net/http"

	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
)

// Endpoints the CLIs' cloud and remote backends read around a run they
// start from the terminal.

// runEvent is HCP Terraform's record of something that happened to a run
// besides its status changes (an overridden policy, an ignored policy set).
// runcred records no such events: the CLI reads them only to print the
// warnings some of them carry.
type runEvent struct {
	ID          string `jsonapi:"primary,run-events"`
	Action      string `jsonapi:"attr,action"`
	Description string `jsonapi:"attr,description"`
}

func (h *API) mountCLIRuns(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	route("GET /api/v2/runs/{run}/run-events", h.listRunEvents)
	route("GET /api/v2/organizations/{org}/runs/queue", h.runQueue)
	route("GET /api/v2/organizations/{org}/capacity", h.capacity)
}

// capacityJSON is an organization's capacity: runs waiting for an agent
// and runs in progress.
type capacityJSON struct {
	Organization string `jsonapi:"primary,organization-capacity"`
	Pending      int    `jsonapi:"attr,pending"`
	Running      int    `jsonapi:"attr,running"`
}

// runQueue lists the organization's runs waiting for an agent, each with
// its position, the first at 1.
func (h *API) runQueue(w http.ResponseWriter, r *http.Request) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	pg = pg.Normalize()
	q, err := h.Service.Runs.OrgQueue(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	out := []*runJSON{}
	for i := pg.Offset(); i < len(q.Waiting) && len(out) < pg.Size; i++ {
		doc := h.runDoc(r, q.Waiting[i])
		doc.PositionInQueue = i + 1
		out = append(out, doc)
	}
	return writeList(w, out, pg, len(q.Waiting))
}

func (h *API) capacity(w http.ResponseWriter, r *http.Request) error {
	q, err := h.Service.Runs.OrgQueue(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, &capacityJSON{Organization: r.PathValue("org"), Pending: len(q.Waiting), Running: q.Running})
}

// listRunEvents answers, for a run the caller may read, that it has no events.
func (h *API) listRunEvents(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.Service.Runs.Run(r.Context(), r.PathValue("run")); err != nil {
		return err
	}
	return writeList(w, []*runEvent{}, resource.Page{Number: 1, Size: 20}, 0)
}

// runDoc is run's document for the caller, with what the caller may do to
// it: the CLIs discard a run they may not apply instead of asking.
func (h *API) runDoc(r *http.Request, x run.Run) *runJSON {
	out := toRun(x)
	p := h.Service.Runs.Permissions(r.Context(), x)
	out.Permissions = map[string]bool{
		"can-apply": p.Apply, "can-discard": p.Discard, "can-cancel": p.Cancel, "can-force-cancel": p.ForceCancel,
		"can-force-execute": false, // runcred queues runs first in, first out
	}
	return out
}
