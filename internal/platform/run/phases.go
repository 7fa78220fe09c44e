package run

import (
	"context"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/resource"
)

// PhaseView is a plan or an apply as API readers see it.
type PhaseView struct {
	ID         string
	Phase      jobapi.Phase
	RunID      string
	Status     string // pending, queued, running, finished, errored, canceled, unreachable
	HasChanges bool   // plans only
	Counts     ResourceCounts
	Timestamps map[string]time.Time // queued-at, started-at, finished-at, errored-at, canceled-at
	LogToken   string               // signed token of the log-read URL
}

// PlanOrApply returns the plan or apply with id.
func (s *Service) PlanOrApply(ctx context.Context, id string) (PhaseView, error) {
	r, w, err := s.runByPhase(ctx, id)
	if err != nil {
		return PhaseView{}, err
	}
	if err := s.base.Authorize(ctx, runPath(w.Organization, w.Name, r.ID), access.Read); err != nil {
		return PhaseView{}, err
	}
	v := PhaseView{ID: id, RunID: r.ID, Timestamps: map[string]time.Time{}}
	var queued, started, finished Status
	if id == r.PlanID {
		v.Phase, v.Status, v.HasChanges, v.Counts = jobapi.Plan, r.PlanStatus(), r.HasChanges, r.Plan
		queued, started, finished = PlanQueued, Planning, Planned
		if r.Status == PlannedAndFinished {
			finished = PlannedAndFinished
		}
	} else {
		v.Phase, v.Status, v.Counts = jobapi.Apply, r.ApplyStatus(), r.Apply
		queued, started, finished = ApplyQueued, Applying, Applied
	}
	for key, st := range map[string]Status{"queued-at": queued, "started-at": started, "finished-at": finished} {
		if t, ok := r.Timestamps[st]; ok {
			v.Timestamps[key] = t
		}
	}
	if v.Status == "errored" || v.Status == "canceled" {
		v.Timestamps[v.Status+"-at"] = r.Timestamps[Status(v.Status)]
	}
	if v.LogToken, err = s.base.Sign(resource.SignLog, id); err != nil {
		return PhaseView{}, err
	}
	return v, nil
}

// PlanJSON returns the JSON plan of plan planID. It is apart from reading
// the run because a JSON plan holds sensitive values in the clear.
func (s *Service) PlanJSON(ctx context.Context, planID string) ([]byte, error) {
	r, w, err := s.runByPhase(ctx, planID)
	if err != nil || planID != r.PlanID {
		return nil, fail.NotFoundf("plan %q not found", fail.Clip(planID))
	}
	if err := s.base.Authorize(ctx, runPath(w.Organization, w.Name, r.ID)+"/plan-json", access.Read); err != nil {
		return nil, err
	}
	sealed, err := planJSON(ctx, s.base.DB, r.ID)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		return nil, fail.NotFoundf("plan %s has no JSON output", planID)
	}
	pt, err := s.base.Seal.Decrypt(sealed, planJSONAAD(r.ID))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not open the plan JSON of "+r.ID)
	}
	if err := s.base.Record(ctx, "platform.plan.json_read", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "plan_id": planID,
	}); err != nil {
		return nil, err
	}
	return pt, nil
}

// log returns the whole log so far of phase phaseID.
func (s *Service) log(ctx context.Context, phaseID string) ([]byte, error) {
	rows, err := logChunks(ctx, s.base.DB, phaseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var seq int
		var sealed []byte
		if err := rows.Scan(&seq, &sealed); err != nil {
			return nil, err
		}
		pt, err := s.base.Seal.Decrypt(sealed, logAAD(phaseID, seq))
		if err != nil {
			return nil, fail.Wrap(fail.Internal, err, "could not open a log chunk of "+phaseID)
		}
		out = append(out, pt...)
	}
	return out, rows.Err()
}

// SignedContent is what a signed URL serves.
type SignedContent struct {
	Purpose string // "log" or "state"
	Data    []byte
	Done    bool // logs: the phase has ended, so the log is complete
}

// ReadSigned serves a signed log-read or state-download URL. The token is
// the credential; it was handed out only to callers allowed to read the
// object.
func (s *Service) ReadSigned(ctx context.Context, token string) (SignedContent, error) {
	g, err := s.base.OpenSigned(token)
	if err != nil {
		return SignedContent{}, err
	}
	switch g.Purpose {
	case resource.SignLog:
		r, _, err := s.runByPhase(ctx, g.ID)
		if err != nil {
			return SignedContent{}, err
		}
		data, err := s.log(ctx, g.ID)
		return SignedContent{Purpose: resource.SignLog, Data: data, Done: r.phaseDone(g.ID)}, err
	case resource.SignState:
		data, err := s.states.Content(ctx, g.ID, true)
		return SignedContent{Purpose: resource.SignState, Data: data, Done: true}, err
	}
	return SignedContent{}, fail.NotFoundf("the URL is invalid or has expired")
}
