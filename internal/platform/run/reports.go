package run

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/state"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/store"
)

// The run engine's interface. An agent (or the run engine on its behalf)
// claims a job, runs the phase and reports:
//
//	job := Claim(pool)                         plan_queued → planning, with a job token
//	AppendLog(job.PhaseID, chunk)…             while it runs
//	StorePlanJSON(job.PhaseID, json)           plans only
//	MintForJob(job.PhaseID, audience)…         workload identity tokens of the phase
//	FinishPhase(job.PhaseID, report)           → planned | planned_and_finished | apply_queued (auto-apply)
//	job := Claim(pool)                         apply_queued → applying
//	StoreJobState(job.PhaseID, state)          applies
//	FinishPhase(job.PhaseID, report)           → applied
//	FinishPhase(job.PhaseID, errored report)   → errored, from either phase
//
// Each report is refused with a conflict once the run has moved on (for
// example, canceled by a user), which tells the agent to stop.

// Job is one phase of one run, claimed by an agent.
type Job struct {
	Phase     jobapi.Phase
	PhaseID   string // the plan's or apply's id, which reports name
	Run       Run
	Workspace workspace.Workspace
}

// Limits on what agents may store.
const (
	MaxLogChunk    = 1 << 20
	MaxPlanJSON    = 64 << 20
	defaultPoolKey = "default" // pool of workspaces with none; not a valid pool id
)

// claimPhase claims the oldest queued phase of a workspace in agent pool
// poolID ("" for workspaces without a pool) and marks it running. It
// returns nil when there is nothing to do.
func (s *Service) claimPhase(ctx context.Context, poolID string) (*Job, error) {
	key := poolID
	if poolID == "" {
		key = defaultPoolKey
	} else if err := resource.ValidAgentPoolID(poolID); err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, agentpool.JobsPath(key), access.Update); err != nil {
		return nil, err
	}
	rows, err := claimable(ctx, s.base.DB, poolID)
	if err != nil {
		return nil, err
	}
	ids, err := store.Strings(rows)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		var job Job
		r, err := s.advance(ctx, id, step{route: func(r Run) ([]Status, error) {
			switch r.Status {
			case PlanQueued:
				job.Phase, job.PhaseID = jobapi.Plan, r.PlanID
				return []Status{Planning}, nil
			case ApplyQueued:
				job.Phase, job.PhaseID = jobapi.Apply, r.ApplyID
				return []Status{Applying}, nil
			}
			return nil, fail.Conflictf("run %s was claimed by another agent", r.ID)
		}})
		if fail.Is(err, fail.Conflict) {
			continue // another agent won it
		}
		if err != nil {
			return nil, err
		}
		if job.Workspace, err = s.ws.Workspace(ctx, r.WorkspaceID); err != nil {
			return nil, err
		}
		job.Run = r
		if err := s.base.Record(ctx, "platform.run.claim", map[string]any{
			"organization": job.Workspace.Organization, "workspace": job.Workspace.Name, "run_id": r.ID,
			"phase": job.Phase, "phase_id": job.PhaseID, "agent_pool_id": poolID,
		}); err != nil {
			return nil, err
		}
		return &job, nil
	}
	return nil, nil
}

// agentRun looks up the run of phaseID, authorizes the caller as its
// agent and checks that the phase is running.
func (s *Service) agentRun(ctx context.Context, phaseID string) (Run, workspace.Workspace, error) {
	r, w, err := s.runByPhase(ctx, phaseID)
	if err != nil {
		return Run{}, workspace.Workspace{}, err
	}
	if err := s.authorizeAgent(ctx, w, r, phaseID); err != nil {
		return Run{}, workspace.Workspace{}, err
	}
	return r, w, running(r, phaseID)
}

// authorizeAgent lets the caller act as the agent of phase phaseID of r. A
// token issued for one run never drives another, and a job token never
// drives another phase than its own (a plan's token cannot apply).
func (s *Service) authorizeAgent(ctx context.Context, w workspace.Workspace, r Run, phaseID string) error {
	if err := s.base.Authorize(ctx, resource.AgentPath(w.Organization, w.Name), access.Update); err != nil {
		return err
	}
	if c, ok := access.CallerFrom(ctx); ok {
		if c.Meta[resource.MetaRunID] != "" && c.Meta[resource.MetaRunID] != r.ID {
			return fail.Deniedf("permission denied")
		}
		if c.Meta[MetaPhaseID] != "" && c.Meta[MetaPhaseID] != phaseID {
			return fail.Deniedf("permission denied")
		}
	}
	return nil
}

// running checks that phase phaseID of r is the one in progress.
func running(r Run, phaseID string) error {
	want := Planning
	if phaseID == r.ApplyID {
		want = Applying
	}
	if r.Status != want {
		return fail.Conflictf("run %s is %s, not %s", r.ID, r.Status, want)
	}
	return nil
}

func (s *Service) runningCheck(phaseID string) func(Run) error {
	return func(r Run) error { return running(r, phaseID) }
}

func logAAD(phaseID string, seq int) string {
	return "platform/run_log_chunks/" + phaseID + "/" + strconv.Itoa(seq)
}

// AppendLog appends chunk to the log of a running plan or apply.
func (s *Service) AppendLog(ctx context.Context, phaseID string, chunk []byte) error {
	r, _, err := s.agentRun(ctx, phaseID)
	if err != nil {
		return err
	}
	if len(chunk) > MaxLogChunk {
		return fail.Invalidf("log chunk is larger than %d bytes", MaxLogChunk)
	}
	if len(chunk) == 0 {
		return nil
	}
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := lockLog(ctx, tx, phaseID); err != nil {
			return err
		}
		seq, err := nextLogSeq(ctx, tx, phaseID)
		if err != nil {
			return err
		}
		sealed, err := s.base.Seal.Encrypt(chunk, logAAD(phaseID, seq))
		if err != nil {
			return fail.Wrap(fail.Internal, err, "could not seal the log chunk")
		}
		return insertLogChunk(ctx, tx, phaseID, r.ID, seq, sealed)
	})
}

func planJSONAAD(runID string) string { return "platform/runs/" + runID + "/plan_json" }

// StorePlanJSON stores the JSON plan (terraform show -json) of a running plan.
func (s *Service) StorePlanJSON(ctx context.Context, planID string, plan []byte) error {
	r, _, err := s.agentRun(ctx, planID)
	if err != nil {
		return err
	}
	if planID != r.PlanID {
		return fail.Invalidf("%s is not a plan", fail.Clip(planID))
	}
	if len(plan) > MaxPlanJSON || !json.Valid(plan) {
		return fail.Invalidf("plan JSON must be valid JSON of at most %d bytes", MaxPlanJSON)
	}
	sealed, err := s.base.Seal.Encrypt(plan, planJSONAAD(r.ID))
	if err != nil {
		return fail.Wrap(fail.Internal, err, "could not seal the plan JSON")
	}
	res, err := storePlanJSON(ctx, s.base.DB, r.ID, sealed)
	return resource.Swapped(res, err, "run %s is no longer planning", r.ID)
}

// PhaseReport is what an agent reports when its phase ends: canceled on a
// user's request, errored with Message, or finished with what it found.
type PhaseReport struct {
	Canceled   bool
	Errored    bool
	Message    string // why it errored
	HasChanges bool   // plans only
	Counts     ResourceCounts
}

// FinishPhase ends running phase phaseID as rep says. Whether it is a plan
// or an apply is the run's to say, not the caller's.
func (s *Service) FinishPhase(ctx context.Context, phaseID string, rep PhaseReport) (Run, error) {
	// A malformed report is refused before the run is read (its phase may
	// have ended meanwhile): the agent protocol answers it as invalid first.
	if c := rep.Counts; c.Additions < 0 || c.Changes < 0 || c.Destructions < 0 {
		return Run{}, fail.Invalidf("resource counts cannot be negative")
	}
	r, w, err := s.agentRun(ctx, phaseID)
	if err != nil {
		return Run{}, err
	}
	switch {
	case rep.Canceled:
		return s.cancelPhase(ctx, r, w, phaseID)
	case rep.Errored:
		return s.failPhase(ctx, r, w, phaseID, rep.Message)
	case phaseID == r.PlanID:
		return s.finishPlan(ctx, r, w, rep)
	}
	return s.finishApply(ctx, r, w, rep.Counts)
}

// finishPlan ends a running plan. A plan-only run, or one with nothing to
// change, ends planned_and_finished; an auto-apply run goes on to
// apply_queued; any other waits as planned for confirmation. When policy
// sets apply to the workspace, the post_plan stage comes first (postPlan).
func (s *Service) finishPlan(ctx context.Context, r Run, w workspace.Workspace, rep PhaseReport) (Run, error) {
	through := afterPlan(r, rep.HasChanges)
	if r.CancelRequested {
		// Canceled while it planned: the plan finished before the agent
		// saw the request, which still stands.
		through = []Status{Canceled}
	}
	var sets []*policy.Set
	var meta []policyset.Set
	if s.policies != nil && !r.CancelRequested {
		var err error
		if sets, meta, err = s.policies.Applicable(ctx, w); err != nil {
			return Run{}, err
		}
	}
	if err := s.base.Record(ctx, "platform.plan.finish", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "plan_id": r.PlanID, "has_changes": rep.HasChanges,
	}); err != nil {
		return Run{}, err
	}
	if len(sets) > 0 {
		return s.postPlan(ctx, r, w, rep, sets, meta)
	}
	return s.advance(ctx, r.ID, step{through: through, check: s.runningCheck(r.PlanID), edit: func(r *Run) {
		r.HasChanges, r.Plan = rep.HasChanges, rep.Counts
	}})
}

// finishApply ends a running apply. A successful apply queues one run in
// each workspace a run trigger names (triggers.go), in the same
// transaction: exactly once per apply, whatever the number of nodes.
func (s *Service) finishApply(ctx context.Context, r Run, w workspace.Workspace, counts ResourceCounts) (Run, error) {
	fire, err := s.triggered(ctx, r, w)
	if err != nil {
		return Run{}, err
	}
	if err := s.base.Record(ctx, "platform.apply.finish", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "apply_id": r.ApplyID, "triggered_runs": fire.audit(),
	}); err != nil {
		return Run{}, err
	}
	return s.advance(ctx, r.ID, step{through: []Status{Applied}, check: s.runningCheck(r.ApplyID), edit: func(r *Run) {
		if counts == (ResourceCounts{}) {
			counts = r.Plan // an apply of a saved plan makes exactly its changes
		}
		r.Apply = counts
	}, also: func(tx *store.Tx, _ Run) error { return s.fire(ctx, tx, fire) }})
}

// failPhase ends a running plan or apply as errored, with message.
func (s *Service) failPhase(ctx context.Context, r Run, w workspace.Workspace, phaseID, message string) (Run, error) {
	message = resource.ClipTo(message, resource.MaxDescriptionLen)
	if err := s.base.Record(ctx, "platform.run.error", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "phase_id": phaseID, "message": message,
	}); err != nil {
		return Run{}, err
	}
	return s.advance(ctx, r.ID, step{through: []Status{Errored}, check: s.runningCheck(phaseID), edit: func(r *Run) {
		r.ErrorMessage = message
	}})
}

// cancelPhase ends a running plan or apply as canceled: its agent stopped
// it, on a user's request, after storing what it had.
func (s *Service) cancelPhase(ctx context.Context, r Run, w workspace.Workspace, phaseID string) (Run, error) {
	if err := s.base.Record(ctx, "platform.run.canceled", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "run_id": r.ID, "phase_id": phaseID,
	}); err != nil {
		return Run{}, err
	}
	return s.advance(ctx, r.ID, step{through: []Status{Canceled}, check: s.runningCheck(phaseID)})
}

// StoreJobState stores the state a running apply produced as its
// workspace's newest state version.
func (s *Service) StoreJobState(ctx context.Context, applyID string, st []byte) (state.Version, error) {
	r, _, err := s.agentRun(ctx, applyID)
	if err != nil {
		return state.Version{}, err
	}
	if applyID != r.ApplyID {
		return state.Version{}, fail.Invalidf("state is stored by applies, and %s is a plan", applyID)
	}
	return s.StoreStateVersion(ctx, r.ID, st)
}

// StoreStateVersion stores st as the workspace's newest state version,
// written by run runID while it applies. Its serial must exceed the
// current one's and its lineage match (state.Directory.Store), so a stale
// or foreign state never replaces the current one.
func (s *Service) StoreStateVersion(ctx context.Context, runID string, st []byte) (state.Version, error) {
	r, w, err := s.run(ctx, runID)
	if err != nil {
		return state.Version{}, err
	}
	if err := s.authorizeAgent(ctx, w, r, r.ApplyID); err != nil { // applies store state
		return state.Version{}, err
	}
	if r.Status != Applying {
		return state.Version{}, fail.Conflictf("run %s is %s, not applying", r.ID, r.Status)
	}
	return s.states.Store(ctx, w, r.ID, st)
}
