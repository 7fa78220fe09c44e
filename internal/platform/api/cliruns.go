package api

import (
	"net/http"
	"strconv"
	"time"

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

// A CLI reads a running phase's log by polling its log-read-url, and after
// a read that brought nothing it sleeps 0.5 to 2 s (go-tfe's LogReader).
// So a read that finds nothing new past its offset waits here, up to
// logWait, for more of the log or the phase's end: the lines reach the
// terminal as the agent sends them instead of up to 2 s later.
const (
	logWait    = 2 * time.Second
	logRecheck = 50 * time.Millisecond
)

// awaitLog returns c, or once it has more than offset bytes (its STX
// included) or the phase has ended, a fresh read of it; a state download
// or a bad offset is returned at once.
func (h *API) awaitLog(r *http.Request, token string, c run.SignedContent) (run.SignedContent, error) {
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if c.Purpose != "log" || err != nil {
		return c, nil
	}
	deadline := time.NewTimer(logWait)
	defer deadline.Stop()
	tick := time.NewTicker(logRecheck)
	defer tick.Stop()
	for !c.Done && offset >= int64(len(c.Data))+1 {
		select {
		case <-r.Context().Done():
			return c, nil
		case <-deadline.C:
			return c, nil
		case <-tick.C:
		}
		if c, err = h.Service.Runs.ReadSigned(r.Context(), token); err != nil {
			return c, err
		}
	}
	return c, nil
}
