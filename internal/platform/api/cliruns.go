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
