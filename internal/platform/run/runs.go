package run

import (
	"context"
	"encoding/json"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// ResourceCounts are a plan's or an apply's resource changes.
type ResourceCounts struct {
	Additions    int
	Changes      int
	Destructions int
}

// Run is one plan (and maybe apply) of a configuration version in a
// workspace. Its plan and apply have ids of their own (PlanID, ApplyID), as
// in HCP Terraform; their statuses derive from the run's (PlanStatus,
// ApplyStatus).
type Run struct {
	ID                     string
	WorkspaceID            string
	Number                 int // order within the workspace: the queue is FIFO by number
	ConfigurationVersionID string
	PlanID                 string
	ApplyID                string
	Status                 Status
	Message                string
	IsDestroy              bool
	PlanOnly               bool
	AutoApply              bool
	HasChanges             bool
	Plan                   ResourceCounts
	Apply                  ResourceCounts
	CreatedBy              resource.Writer // Kind and ID only
	Timestamps             map[Status]time.Time
	ErrorMessage           string
	CreatedAt              time.Time
	CancelRequested        bool // a user asked to cancel the phase in progress (Cancel)

	// Plan options (runopts.go). VariableKeys name the run variables,
	// whose values are sealed and never shown.
	Refresh      bool
	RefreshOnly  bool
	TargetAddrs  []string
	ReplaceAddrs []string
	VariableKeys []string

	// A run a run trigger queued names the run whose apply queued it and
	// that run's workspace ("" for any other run).
	SourceRunID       string
	SourceWorkspaceID string
}

// Options are the settable fields on create.
type Options struct {
	ConfigurationVersionID string // "" = the workspace's latest uploaded version
	Message                *string
	IsDestroy              *bool
	PlanOnly               *bool // also implied by a speculative configuration version
	AutoApply              *bool // default: the workspace's
	Refresh                *bool // default: true
	RefreshOnly            *bool
	TargetAddrs            []string
	ReplaceAddrs           []string
	Variables              []Variable
}

func runsPath(org, ws string) string             { return resource.WorkspacePath(org, ws) + "/runs" }
func runPath(org, ws, id string) string          { return runsPath(org, ws) + "/" + id }
func runActionPath(org, ws, id, a string) string { return runPath(org, ws, id) + "/actions/" + a }

// Create queues a run in workspace wsID. It becomes the workspace's
// active run (plan_queued) if there is none, else waits as pending.
func (s *Service) Create(ctx context.Context, wsID string, o Options) (Run, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return Run{}, err
	}
	if err := s.base.Authorize(ctx, runsPath(w.Organization, w.Name), access.Create); err != nil {
		return Run{}, err
	}
	if err := runsHere(w); err != nil {
		return Run{}, err
	}
	// Who may queue plans but not apply them (HCP Terraform's plan
	// permission) never starts an apply: their run waits for someone who
	// may, even in an auto-apply workspace.
	if s.base.Authorize(ctx, workspace.AnyRunActionPath(w.Organization, w.Name, "apply"), access.Update) != nil {
		o.AutoApply = new(false)
	}
	if o.Message != nil && (len(*o.Message) > resource.MaxDescriptionLen || resource.ValidDescription(*o.Message) != nil) {
		return Run{}, fail.Invalidf("run message must be valid UTF-8 of at most %d bytes", resource.MaxDescriptionLen)
	}
	if err := checkOptions(o); err != nil {
		return Run{}, err
	}
	if len(o.Variables) > 0 {
		vars, err := s.vars.Variables(ctx, w)
		if err != nil {
			return Run{}, err
		}
		if err := s.unmanagedOnly(ctx, w, variableKeys(o.Variables), vars); err != nil {
			return Run{}, err
		}
	}
	var cv configversion.Version
	if o.ConfigurationVersionID == "" {
		if cv, err = s.cvs.Latest(ctx, w); err != nil {
			return Run{}, err
		}
	} else {
		var cw workspace.Workspace
		cv, cw, err = s.cvs.Version(ctx, o.ConfigurationVersionID)
		if err != nil || cw.ID != w.ID {
			return Run{}, fail.Invalidf("configuration version %q is not a configuration version of workspace %q", fail.Clip(o.ConfigurationVersionID), w.Name)
		}
		if cv.Status != configversion.Uploaded {
			return Run{}, fail.Invalidf("configuration version %s has not been uploaded", cv.ID)
		}
	}
	by, err := resource.WriterOf(ctx)
	if err != nil {
		return Run{}, err
	}
	if err := s.base.Record(ctx, "platform.run.create", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "configuration_version_id": cv.ID,
		"is_destroy": o.IsDestroy != nil && *o.IsDestroy, "refresh": o.Refresh == nil || *o.Refresh, "refresh_only": o.RefreshOnly != nil && *o.RefreshOnly,
		"target_addrs": o.TargetAddrs, "replace_addrs": o.ReplaceAddrs, "variable_keys": variableKeys(o.Variables),
	}); err != nil {
		return Run{}, err
	}
	return s.enqueueRun(ctx, w, cv, o, by)
}

// enqueueRun inserts a run; the caller has authorized and recorded it.
func (s *Service) enqueueRun(ctx context.Context, w workspace.Workspace, cv configversion.Version, o Options, by resource.Writer) (Run, error) {
	if err := runsHere(w); err != nil {
		return Run{}, err
	}
	r, vars, err := s.newRun(w, cv, o, by)
	if err != nil {
		return Run{}, err
	}
	if err := s.base.DB.Tx(ctx, func(tx *store.Tx) error { return s.queueIn(ctx, tx, &r, vars) }); err != nil {
		return Run{}, err
	}
	s.wakeAgents()
	return r, nil
}

// newRun makes a pending run of cv in w with options o; vars are its
// sealed run variables.
func (s *Service) newRun(w workspace.Workspace, cv configversion.Version, o Options, by resource.Writer) (Run, []byte, error) {
	now := store.Stored(s.base.Now())
	r := Run{
		ID: resource.NewID("run"), WorkspaceID: w.ID, ConfigurationVersionID: cv.ID, PlanID: resource.NewID("plan"), ApplyID: resource.NewID("apply"),
		Status: Pending, AutoApply: w.AutoApply, PlanOnly: cv.Speculative, CreatedBy: resource.Writer{Kind: by.Kind, ID: by.ID},
		Timestamps: map[Status]time.Time{}, CreatedAt: now,
		Refresh: o.Refresh == nil || *o.Refresh, RefreshOnly: o.RefreshOnly != nil && *o.RefreshOnly,
		TargetAddrs: nonNil(o.TargetAddrs), ReplaceAddrs: nonNil(o.ReplaceAddrs), VariableKeys: variableKeys(o.Variables),
	}
	vars, err := s.sealVariables(r.ID, o.Variables)
	if err != nil {
		return Run{}, nil, err
	}
	if o.Message != nil {
		r.Message = *o.Message
	}
	if o.IsDestroy != nil {
		r.IsDestroy = *o.IsDestroy
	}
	if o.PlanOnly != nil && *o.PlanOnly {
		r.PlanOnly = true
	}
	if o.AutoApply != nil {
		r.AutoApply = *o.AutoApply
	}
	return r, vars, nil
}

// queueIn inserts r within tx: it becomes its workspace's active run
// (plan_queued) if the workspace has none and is not locked, else it waits
// as pending.
func (s *Service) queueIn(ctx context.Context, tx *store.Tx, r *Run, vars []byte) error {
	if err := lockRuns(ctx, tx, r.WorkspaceID); err != nil {
		return err
	}
	number, err := nextRunNumber(ctx, tx, r.WorkspaceID)
	if err != nil {
		return err
	}
	r.Number = number
	active, err := activeRuns(ctx, tx, r.WorkspaceID)
	if err != nil {
		return err
	}
	locked, err := lockedIn(ctx, tx, r.WorkspaceID)
	if err != nil {
		return err
	}
	if active == 0 && !locked {
		r.Status, r.Timestamps[PlanQueued] = PlanQueued, r.CreatedAt
	}
	ts, err := encodeTimestamps(r.Timestamps)
	if err != nil {
		return err
	}
	return insertRun(ctx, tx, *r, ts, vars)
}

func encodeTimestamps(m map[Status]time.Time) (string, error) {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[string(k)] = store.Nanos(v)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// run looks run id up without authorizing, with its workspace.
func (s *Service) run(ctx context.Context, id string) (Run, workspace.Workspace, error) {
	if !resource.ValidID("run", id) {
		return Run{}, workspace.Workspace{}, fail.NotFoundf("run %q not found", fail.Clip(id))
	}
	return s.runWhere(ctx, `id = ?`, id, "run %q not found")
}

// runByPhase looks a run up by its plan or apply id.
func (s *Service) runByPhase(ctx context.Context, phaseID string) (Run, workspace.Workspace, error) {
	switch {
	case resource.ValidID("plan", phaseID):
		return s.runWhere(ctx, `plan_id = ?`, phaseID, "plan %q not found")
	case resource.ValidID("apply", phaseID):
		return s.runWhere(ctx, `apply_id = ?`, phaseID, "apply %q not found")
	}
	return Run{}, workspace.Workspace{}, fail.NotFoundf("plan or apply %q not found", fail.Clip(phaseID))
}

func (s *Service) runWhere(ctx context.Context, where, arg, msg string) (Run, workspace.Workspace, error) {
	r, err := runWhere(ctx, s.base.DB, where, arg)
	if err != nil {
		return Run{}, workspace.Workspace{}, resource.NotFound(err, msg, arg)
	}
	w, err := s.ws.Workspace(ctx, r.WorkspaceID)
	return r, w, err
}

// Run returns run id.
func (s *Service) Run(ctx context.Context, id string) (Run, error) {
	r, w, err := s.run(ctx, id)
	if err != nil {
		return Run{}, err
	}
	if err := s.base.Authorize(ctx, runPath(w.Organization, w.Name, r.ID), access.Read); err != nil {
		return Run{}, err
	}
	return r, nil
}

// Runs lists workspace wsID's runs, newest first, with the total count.
func (s *Service) Runs(ctx context.Context, wsID string, p resource.Page) ([]Run, int, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, runsPath(w.Organization, w.Name), access.List); err != nil {
		return nil, 0, err
	}
	return listRuns(ctx, s.base.DB, w.ID, p.Normalize())
}

// Queue queues the run an uploaded configuration version asked for
// (configversion.Queue).
type Queue struct{ s *Service }

// NewQueue returns the Queue of s.
func NewQueue(s *Service) Queue { return Queue{s: s} }

func (q Queue) QueueRun(ctx context.Context, w workspace.Workspace, cv configversion.Version, by resource.Writer) error {
	_, err := q.s.enqueueRun(ctx, w, cv, Options{}, by)
	return err
}

// runsHere refuses a run on a workspace whose runs happen elsewhere.
func runsHere(w workspace.Workspace) error {
	if w.ExecutionMode == workspace.ExecutionLocal {
		return fail.Invalidf("workspace %q has execution mode %q: its runs happen elsewhere and runcred only keeps its state", w.Name, workspace.ExecutionLocal)
	}
	return nil
}
