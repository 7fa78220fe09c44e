package runtrigger

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Service manages run triggers. It is safe for concurrent use.
type Service struct {
	base resource.Deps
	ws   workspace.Directory
}

// New returns a Service.
func New(base resource.Deps, ws workspace.Directory) *Service {
	return &Service{base: base, ws: ws}
}

// Create makes a run trigger: each successful apply in workspace
// sourceableID queues a run in workspace wsID. It needs administration of
// wsID's triggers and reading sourceableID's runs; a source the caller may
// not read looks missing. It refuses the workspace itself, a source it
// already has, more than MaxSources sources, and a source that would close
// a cycle (the error names it).
func (s *Service) Create(ctx context.Context, wsID, sourceableID string) (Trigger, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return Trigger{}, err
	}
	if err := s.base.Authorize(ctx, TriggersPath(w.Organization, w.Name), access.Create); err != nil {
		return Trigger{}, err
	}
	if sourceableID == "" {
		return Trigger{}, fail.Invalidf("sourceable: a source workspace is required")
	}
	src, err := s.ws.Workspace(ctx, sourceableID)
	if err != nil || src.Organization != w.Organization {
		return Trigger{}, fail.NotFoundf("sourceable workspace %q not found", fail.Clip(sourceableID))
	}
	if err := s.base.Authorize(ctx, sourceRunsPath(src.Organization, src.Name), access.Read); err != nil {
		return Trigger{}, fail.NotFoundf("sourceable workspace %q not found", sourceableID)
	}
	if src.ID == w.ID {
		return Trigger{}, fail.Invalidf("sourceable: workspace %q cannot trigger runs in itself", w.Name)
	}
	t := Trigger{ID: resource.NewID("rt"), Organization: w.Organization, WorkspaceID: w.ID, WorkspaceName: w.Name,
		SourceableID: src.ID, SourceableName: src.Name, CreatedAt: store.Stored(s.base.Now())}
	if err := s.base.Record(ctx, "platform.run_trigger.create", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "run_trigger_id": t.ID,
		"sourceable": src.Name, "sourceable_id": src.ID,
	}); err != nil {
		return Trigger{}, err
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		// One writer of an organization's triggers at a time, on every
		// node, so two creations cannot close a cycle between them.
		if err := tx.Lock(ctx, "run-triggers:"+w.Organization); err != nil {
			return err
		}
		all, err := inOrganization(ctx, tx, w.ID)
		if err != nil {
			return err
		}
		if err := admit(all, t); err != nil {
			return err
		}
		return insert(ctx, tx, t)
	})
	if err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// admit checks that t may join the organization's triggers all.
func admit(all []Trigger, t Trigger) error {
	sources := 0
	next := map[string][]Trigger{} // by source
	for _, e := range all {
		if e.WorkspaceID == t.WorkspaceID {
			if e.SourceableID == t.SourceableID {
				return fail.Invalidf("sourceable: workspace %q already triggers runs in workspace %q", t.SourceableName, t.WorkspaceName)
			}
			sources++
		}
		next[e.SourceableID] = append(next[e.SourceableID], e)
	}
	if sources >= MaxSources {
		return fail.Invalidf("sourceable: workspace %q already has %d source workspaces, the most it may have", t.WorkspaceName, MaxSources)
	}
	// t closes a cycle when its workspace already leads to its source.
	if path := chain(next, t.WorkspaceID, t.SourceableID); path != nil {
		names := []string{t.SourceableName, t.WorkspaceName}
		for _, e := range path {
			names = append(names, e.WorkspaceName)
		}
		return fail.Invalidf("sourceable: the run trigger would make a cycle: %s", strings.Join(names, " → "))
	}
	return nil
}

// chain finds the triggers that lead from workspace from to workspace to
// (nil when none do), breadth first, so the shortest.
func chain(next map[string][]Trigger, from, to string) []Trigger {
	via := map[string]Trigger{} // how each reached workspace was reached
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		if at == to {
			var path []Trigger
			for at != from {
				e := via[at]
				path = append([]Trigger{e}, path...)
				at = e.SourceableID
			}
			return path
		}
		for _, e := range next[at] {
			if !seen[e.WorkspaceID] {
				seen[e.WorkspaceID] = true
				via[e.WorkspaceID] = e
				queue = append(queue, e.WorkspaceID)
			}
		}
	}
	return nil
}

// trigger looks run trigger id up and authorizes capability on its
// workspace's triggers.
func (s *Service) trigger(ctx context.Context, id, capability string) (Trigger, error) {
	if !resource.ValidID("rt", id) {
		return Trigger{}, fail.NotFoundf("run trigger %q not found", fail.Clip(id))
	}
	t, err := byID(ctx, s.base.DB, id)
	if err != nil {
		return Trigger{}, err
	}
	if err := s.base.Authorize(ctx, TriggersPath(t.Organization, t.WorkspaceName), capability); err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// Trigger returns run trigger id.
func (s *Service) Trigger(ctx context.Context, id string) (Trigger, error) {
	return s.trigger(ctx, id, access.Read)
}

// List lists workspace wsID's triggers in direction d, oldest first, with
// the total count.
func (s *Service) List(ctx context.Context, wsID string, d Direction, p resource.Page) ([]Trigger, int, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, TriggersPath(w.Organization, w.Name), access.List); err != nil {
		return nil, 0, err
	}
	if err := ValidDirection(d); err != nil {
		return nil, 0, err
	}
	col := "workspace_id"
	if d == Outbound {
		col = "sourceable_id"
	}
	return list(ctx, s.base.DB, col, w.ID, p.Normalize())
}

// Delete deletes run trigger id: applies in its source no longer queue
// runs in its workspace.
func (s *Service) Delete(ctx context.Context, id string) error {
	t, err := s.trigger(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.run_trigger.delete", map[string]any{
		"organization": t.Organization, "workspace": t.WorkspaceName, "workspace_id": t.WorkspaceID, "run_trigger_id": t.ID,
		"sourceable": t.SourceableName, "sourceable_id": t.SourceableID,
	}); err != nil {
		return err
	}
	return remove(ctx, s.base.DB, t.ID)
}
