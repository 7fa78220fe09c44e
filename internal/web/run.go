package web

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// phaseLog is a plan's or apply's log as far as the page shows it: whole
// lines only until the phase has ended, and the offset to stream from.
type phaseLog struct {
	ID     string
	Status string
	Counts run.ResourceCounts
	HTML   template.HTML
	Offset int
	Done   bool
	Shown  bool // the phase exists and the caller may read it
}

type event struct {
	Status run.Status
	At     time.Time
}

type runData struct {
	Run         run.Run
	W           workspace.Workspace
	Timeline    []event
	Plan, Apply phaseLog
	Actions     []string // the actions the caller may take now
	Creds       []credential
	CredsDenied bool
	Final       bool
	Checks      []run.Check
	// OverrideStage is the task stage the caller may override now ("" none).
	OverrideStage string
}

// runActions are the buttons of a run page, in order, each with the
// status a run moves to by it: a button shows only where the run's
// transition table allows that move.
var runActions = []struct {
	name string
	to   run.Status
}{
	{"apply", run.Confirmed},
	{"discard", run.Discarded},
	{"cancel", run.Canceled},
}

func final(s run.Status) bool {
	switch s {
	case run.Applied, run.PlannedAndFinished, run.Discarded, run.Errored, run.Canceled:
		return true
	}
	return false
}

// load reads everything the run page shows, through the same service
// calls the API makes.
func (u *UI) load(ctx context.Context, id string, withLogs, withCreds bool) (runData, error) {
	p := u.cfg.Platform
	r, err := p.Runs.Run(ctx, id)
	if err != nil {
		return runData{}, err
	}
	ws, err := p.Workspaces.WorkspaceByID(ctx, r.WorkspaceID)
	if err != nil {
		return runData{}, err
	}
	d := runData{Run: r, W: ws, Final: final(r.Status)}
	for st, at := range r.Timestamps {
		d.Timeline = append(d.Timeline, event{st, at})
	}
	slices.SortFunc(d.Timeline, func(a, b event) int { return a.At.Compare(b.At) })
	if withLogs {
		if d.Plan, err = u.phaseLog(ctx, r.PlanID, 0, d.Final); err != nil {
			return runData{}, err
		}
		if d.Apply, err = u.phaseLog(ctx, r.ApplyID, 0, d.Final); err != nil {
			return runData{}, err
		}
	}
	for _, a := range runActions {
		if !run.CanMove(r.Status, a.to) {
			continue
		}
		path := resource.WorkspacePath(ws.Organization, ws.Name) + "/runs/" + r.ID + "/actions/" + a.name
		if u.cfg.Broker.Authorize(ctx, path, access.Update) == nil {
			d.Actions = append(d.Actions, a.name)
		}
	}
	if !withCreds {
		return d, nil
	}
	if d.Checks, err = p.Runs.Checks(ctx, r.ID); err != nil {
		return runData{}, err
	}
	for _, c := range d.Checks {
		if c.Status == run.StageAwaitingOverride && r.Status == run.PostPlanAwaitingDecision && p.Runs.CanOverride(ctx, r.ID) {
			d.OverrideStage = c.ID
		}
	}
	d.Creds, err = u.credentials(ctx, r.ID)
	if k := fail.KindOf(err); err != nil && (k == fail.Denied || k == fail.NotFound) {
		d.CredsDenied, err = true, nil
	}
	return d, err
}

// phaseLog reads the log of phase id from byte offset from, as the API's
// log URL does (the phase is authorized, then its signed log read). Until
// the phase or the run (ended) has ended, only whole lines are taken.
func (u *UI) phaseLog(ctx context.Context, id string, from int, ended bool) (phaseLog, error) {
	if id == "" {
		return phaseLog{}, nil
	}
	pv, err := u.cfg.Platform.Runs.PlanOrApply(ctx, id)
	if k := fail.KindOf(err); err != nil && (k == fail.Denied || k == fail.NotFound) {
		return phaseLog{}, nil
	} else if err != nil {
		return phaseLog{}, err
	}
	c, err := u.cfg.Platform.Runs.ReadSigned(ctx, pv.LogToken)
	if err != nil {
		return phaseLog{}, err
	}
	l := phaseLog{ID: id, Status: pv.Status, Counts: pv.Counts, Done: c.Done || ended, Shown: true, Offset: from}
	data := c.Data[min(from, len(c.Data)):]
	if !l.Done {
		// Only whole lines: the rest comes with its newline.
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	l.Offset += len(data)
	l.HTML = renderANSI(string(data))
	return l, nil
}

func (u *UI) run(w http.ResponseWriter, r *http.Request, v *view) error {
	d, err := u.load(r.Context(), r.PathValue("run"), r.URL.Query().Get("part") != "summary", true)
	if err != nil {
		return err
	}
	v.Title, v.Nav, v.Data = "Run "+d.Run.ID, "orgs", d
	if r.URL.Query().Get("part") == "summary" {
		// The live part of the page, fetched again when the status changes.
		v.noLayout = true
		u.pages.render(w, http.StatusOK, "runsummary", v)
		return nil
	}
	u.pages.render(w, http.StatusOK, "run", v)
	return nil
}

// override lets a run go on past its overridable policy failures, with
// the justification the form requires, through the run service (which
// checks the grant, the stage and the justification as the API does).
func (u *UI) override(w http.ResponseWriter, r *http.Request, v *view) error {
	id := r.PathValue("run")
	if _, _, err := u.cfg.Platform.Runs.Override(r.Context(), r.PostFormValue("stage"), r.PostFormValue("justification")); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"runs/"+id, http.StatusSeeOther)
	return nil
}

// runAction applies, discards or cancels a run through the run service,
// which authorizes the caller as the API does.
func (u *UI) runAction(w http.ResponseWriter, r *http.Request, v *view) error {
	id, ctx := r.PathValue("run"), r.Context()
	var err error
	switch r.PathValue("action") {
	case "apply":
		_, err = u.cfg.Platform.Runs.Apply(ctx, id)
	case "discard":
		_, err = u.cfg.Platform.Runs.Discard(ctx, id)
	case "cancel":
		_, err = u.cfg.Platform.Runs.Cancel(ctx, id)
	default:
		return fail.NotFoundf("there is no action %q", fail.Clip(r.PathValue("action")))
	}
	if k := fail.KindOf(err); k == fail.NotFound {
		// The run service answers a denial as not found where the caller may not
		// read the run; one it may read but not act on is a denial.
		if _, rerr := u.cfg.Platform.Runs.Run(ctx, id); rerr == nil {
			err = fail.Deniedf("your token may not %s this run", r.PathValue("action"))
		}
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"runs/"+id, http.StatusSeeOther)
	return nil
}
