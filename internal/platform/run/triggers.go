package run

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/runtrigger"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Triggers finds the run triggers an apply fires (runtrigger.Directory).
type Triggers interface {
	Outbound(ctx context.Context, wsID string) ([]runtrigger.Trigger, error)
	Linked(ctx context.Context, tx *store.Tx, id string) (bool, error)
}

// triggeredRun is a run a trigger will queue when the apply commits.
type triggeredRun struct {
	trigger runtrigger.Trigger
	run     Run
}

type firing []triggeredRun

// audit is what the apply's audit record says it queues.
func (f firing) audit() []map[string]string {
	out := make([]map[string]string, 0, len(f))
	for _, t := range f {
		out = append(out, map[string]string{"run_trigger_id": t.trigger.ID, "workspace": t.trigger.WorkspaceName,
			"workspace_id": t.trigger.WorkspaceID, "run_id": t.run.ID})
	}
	return out
}

// TriggeredMessage is the message of a run queued by a run trigger.
func TriggeredMessage(sourceRunID, sourceWorkspace string) string {
	return "Triggered by run " + sourceRunID + " in workspace " + sourceWorkspace
}

// triggered makes the runs r's apply will queue through the run triggers
// of its workspace w, before the apply ends (their ids go in its audit
// record). A workspace whose runs happen elsewhere, or that has no
// configuration yet, has nothing to run and is passed over. A triggered
// run plans the workspace's latest configuration and, as in HCP Terraform
// without auto-apply-run-trigger, waits for confirmation.
func (s *Service) triggered(ctx context.Context, r Run, w workspace.Workspace) (firing, error) {
	if s.triggers == nil {
		return nil, nil
	}
	ts, err := s.triggers.Outbound(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	var out firing
	for _, t := range ts {
		target, err := s.ws.Workspace(ctx, t.WorkspaceID)
		if fail.Is(err, fail.NotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if runsHere(target) != nil {
			continue
		}
		cv, err := s.cvs.Latest(ctx, target)
		if fail.Is(err, fail.NotFound) || fail.Is(err, fail.Invalid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		by := resource.Writer{Kind: resource.WriterRun, ID: r.ID, WorkspaceID: w.ID}
		tr, _, err := s.newRun(target, cv, Options{Message: new(TriggeredMessage(r.ID, w.Name)), AutoApply: new(false)}, by)
		if err != nil {
			return nil, err
		}
		tr.SourceRunID, tr.SourceWorkspaceID = r.ID, w.ID
		out = append(out, triggeredRun{trigger: t, run: tr})
	}
	return out, nil
}

// fire queues f's runs within tx, the transaction that makes the apply
// applied, each whose trigger still exists. The unique index on
// (source_run_id, workspace_id) refuses a second run for the same apply.
func (s *Service) fire(ctx context.Context, tx *store.Tx, f firing) error {
	for _, t := range f {
		ok, err := s.triggers.Linked(ctx, tx, t.trigger.ID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		r := t.run
		if err := s.queueIn(ctx, tx, &r, nil); err != nil {
			return err
		}
	}
	return nil
}
