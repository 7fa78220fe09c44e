package run

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
)

// The organization's run queue, as HCP Terraform shows it: the runs waiting
// for an agent, and how many run now. A CLI that started a run reads them
// to tell its user how long the wait is.

// Queued is an organization's queue as the caller may see it.
type Queued struct {
	Waiting []Run // queued for an agent, oldest first
	Running int   // runs an agent is planning or applying
}

// OrgQueue returns organization org's queue, holding the runs the caller
// may read; a caller who may not read the organization learns nothing.
func (s *Service) OrgQueue(ctx context.Context, org string) (Queued, error) {
	if err := s.base.Authorize(ctx, resource.OrgPath(org), access.Read); err != nil {
		return Queued{}, err
	}
	rows, err := s.base.DB.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE status IN (?, ?, ?, ?)
		AND workspace_id IN (SELECT w.id FROM workspaces w JOIN organizations o ON o.id = w.org_id WHERE o.name = ?)
		ORDER BY created_at, id`, string(PlanQueued), string(ApplyQueued), string(Planning), string(Applying), org)
	if err != nil {
		return Queued{}, err
	}
	runs, err := resource.ScanAll(rows, scanRun)
	if err != nil {
		return Queued{}, err
	}
	var q Queued
	for _, r := range runs {
		w, err := s.ws.Workspace(ctx, r.WorkspaceID)
		if err != nil || s.base.Authorize(ctx, runPath(w.Organization, w.Name, r.ID), access.Read) != nil {
			continue
		}
		if r.Status == Planning || r.Status == Applying {
			q.Running++
		} else {
			q.Waiting = append(q.Waiting, r)
		}
	}
	return q, nil
}
