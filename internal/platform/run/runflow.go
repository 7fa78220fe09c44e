package run

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// step is one change to a run: the statuses it passes through, each checked
// against the transition table, and edits to other columns.
type step struct {
	through []Status
	check   func(Run) error // a precondition beyond the table (nil: none)
	// route, when set, chooses through from the run as it is now.
	route func(Run) ([]Status, error)
	edit  func(*Run) // (nil: none)
	// also, when set, makes further changes in the same transaction once
	// the run has moved (r as it is now): they commit with the move or not
	// at all.
	also func(tx *store.Tx, r Run) error
}

// advance applies st to run id in one transaction, re-reading the run there
// so the check sees the current status. An active run that ends releases
// the workspace and the oldest pending run takes it (plan_queued); a
// pending run that is canceled held nothing.
func (s *Service) advance(ctx context.Context, id string, st step) (Run, error) {
	var out Run
	err := s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		r, err := runWhere(ctx, tx, `id = ?`, id)
		if err != nil {
			return resource.NotFound(err, "run %q not found", id)
		}
		if err := lockRuns(ctx, tx, r.WorkspaceID); err != nil {
			return err
		}
		if st.check != nil {
			if err := st.check(r); err != nil {
				return err
			}
		}
		if st.route != nil {
			if st.through, err = st.route(r); err != nil {
				return err
			}
		}
		from := r.Status
		now := store.Stored(s.base.Now())
		for _, to := range st.through {
			if err := move(r.ID, r.Status, to); err != nil {
				return err
			}
			r.Status, r.Timestamps[to] = to, now
		}
		if st.edit != nil {
			st.edit(&r)
		}
		ts, err := encodeTimestamps(r.Timestamps)
		if err != nil {
			return err
		}
		// A cancel request belongs to the phase that was running; whatever
		// the run does next starts without it.
		res, err := updateRun(ctx, tx, r, ts, from)
		if err := resource.Swapped(res, err, "run %s changed concurrently; read it again", r.ID); err != nil {
			return err
		}
		if st.also != nil {
			if err := st.also(tx, r); err != nil {
				return err
			}
		}
		if r.Status.Terminal() && (from == PostPlanRunning || from == PostPlanAwaitingDecision) && r.Status != Errored {
			// Canceled or discarded while its check ran or waited.
			if err := endCheck(ctx, tx, r.ID, StageCanceled); err != nil {
				return err
			}
		}
		if r.Status.Terminal() {
			// The saved plan holds the run's variable values: once the run
			// is over, nothing needs it.
			if err := dropPlanFile(ctx, tx, r.ID); err != nil {
				return err
			}
		}
		if from.holdsWorkspace() && !r.Status.holdsWorkspace() {
			if err := s.promote(ctx, tx, r.WorkspaceID); err != nil {
				return err
			}
		}
		out = r
		return nil
	})
	if err == nil && out.Status != Planning && out.Status != Applying {
		s.endJob(ctx, out.ID) // the phase has ended: its job token goes
		s.wakeAgents()        // this run or the next may be claimable
	}
	return out, err
}

// promote makes the workspace's oldest pending run its active run, unless
// the workspace is locked.
func (s *Service) promote(ctx context.Context, tx *store.Tx, wsID string) error {
	if locked, err := lockedIn(ctx, tx, wsID); err != nil || locked {
		return err // runs wait until the lock is lifted
	}
	next, err := nextPending(ctx, tx, wsID)
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	next.Timestamps[PlanQueued] = store.Stored(s.base.Now())
	ts, err := encodeTimestamps(next.Timestamps)
	if err != nil {
		return err
	}
	return queuePending(ctx, tx, next.ID, ts)
}

// runAction authorizes a user's action on run id, checks it is allowed from
// the run's current status and applies it.
func (s *Service) runAction(ctx context.Context, id, action, verb string, through ...Status) (Run, error) {
	r, w, err := s.run(ctx, id)
	if err != nil {
		return Run{}, err
	}
	if err := s.base.Authorize(ctx, runActionPath(w.Organization, w.Name, r.ID, action), access.Update); err != nil {
		return Run{}, err
	}
	if !CanMove(r.Status, through[0]) {
		return Run{}, refuse(r.ID, r.Status, verb)
	}
	if err := s.base.Record(ctx, "platform.run."+action, map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "run_id": r.ID, "from": r.Status,
	}); err != nil {
		return Run{}, err
	}
	return s.advance(ctx, r.ID, step{through: through, check: func(cur Run) error {
		if !CanMove(cur.Status, through[0]) {
			return refuse(cur.ID, cur.Status, verb)
		}
		return nil
	}, edit: func(cur *Run) {
		if action == "force-cancel" {
			cur.Timestamps[forceCanceledKey] = cur.Timestamps[Canceled]
		}
	}})
}

// Apply confirms a planned run; it is queued for apply at once. A run
// whose policy check was overridden applies only the plan the override
// covered.
func (s *Service) Apply(ctx context.Context, id string) (Run, error) {
	if r, w, err := s.run(ctx, id); err == nil && r.Status == Planned {
		if err := s.base.Authorize(ctx, runActionPath(w.Organization, w.Name, r.ID, "apply"), access.Update); err != nil {
			return Run{}, err
		}
		if err := s.checkOverride(ctx, r); err != nil {
			return Run{}, err
		}
	}
	return s.runAction(ctx, id, "apply", "applied", Confirmed, ApplyQueued)
}

// Discard discards a planned run without applying it.
func (s *Service) Discard(ctx context.Context, id string) (Run, error) {
	return s.runAction(ctx, id, "discard", "discarded", Discarded)
}

// Cancel cancels a run. A pending or queued run is canceled at once. A
// phase in progress is asked to stop: its agent interrupts OpenTofu, stores
// the state an interrupted apply leaves, and ends the phase canceled
// (FinishPhase, reporting Canceled); ForceCancel is for an agent that no longer answers.
func (s *Service) Cancel(ctx context.Context, id string) (Run, error) {
	r, w, err := s.run(ctx, id)
	if err != nil {
		return Run{}, err
	}
	if r.Status != Planning && r.Status != Applying {
		return s.runAction(ctx, id, "cancel", "canceled", Canceled)
	}
	if err := s.base.Authorize(ctx, runActionPath(w.Organization, w.Name, r.ID, "cancel"), access.Update); err != nil {
		return Run{}, err
	}
	if err := s.base.Record(ctx, "platform.run.cancel", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "run_id": r.ID, "from": r.Status, "requested": true,
	}); err != nil {
		return Run{}, err
	}
	res, err := requestCancel(ctx, s.base.DB, r.ID)
	if err := resource.Swapped(res, err, "run %s changed concurrently; read it again", r.ID); err != nil {
		return Run{}, err
	}
	return r, nil
}

// ForceCancel ends a phase in progress as canceled at once, without its
// agent; the agent's next report is refused and its job token revoked. A
// state the interrupted apply would have stored is lost, so it is for an
// agent that is gone.
func (s *Service) ForceCancel(ctx context.Context, id string) (Run, error) {
	r, _, err := s.run(ctx, id)
	if err != nil {
		return Run{}, err
	}
	if r.Status != Planning && r.Status != Applying {
		return Run{}, refuse(r.ID, r.Status, "force-canceled")
	}
	return s.runAction(ctx, id, "force-cancel", "force-canceled", Canceled)
}

// forceCanceledKey is the status timestamp (force-canceled-at) a
// force-cancel sets beside canceled-at, as in HCP Terraform.
const forceCanceledKey Status = "force_canceled"

// PlanStatus is the status of r's plan, derived from the run's.
func (r Run) PlanStatus() string {
	_, planned := r.Timestamps[Planned]
	_, finished := r.Timestamps[PlannedAndFinished]
	_, checked := r.Timestamps[PostPlanRunning]
	switch {
	case r.Status == PostPlanRunning:
		// The plan's log stays open until the check's results are in it.
		return "running"
	case planned || finished || checked:
		return "finished"
	case r.Status == Pending:
		return "pending"
	case r.Status == PlanQueued:
		return "queued"
	case r.Status == Planning:
		return "running"
	case r.Status == Errored:
		return "errored"
	case r.Status == Canceled:
		return "canceled"
	}
	return "unreachable"
}

// ApplyStatus is the status of r's apply, derived from the run's.
func (r Run) ApplyStatus() string {
	_, queued := r.Timestamps[ApplyQueued]
	switch r.Status {
	case Applied:
		return "finished"
	case Applying:
		return "running"
	case ApplyQueued:
		return "queued"
	case Errored, Canceled:
		if queued {
			return string(r.Status)
		}
		return "unreachable"
	case Discarded, PlannedAndFinished:
		return "unreachable"
	}
	return "pending"
}

// phaseDone reports whether the phase phaseID of r has ended, for logs.
func (r Run) phaseDone(phaseID string) bool {
	st := r.ApplyStatus()
	if phaseID == r.PlanID {
		st = r.PlanStatus()
	}
	switch st {
	case "finished", "errored", "canceled", "unreachable":
		return true
	}
	return false
}
