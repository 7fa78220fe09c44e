package run

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// A user or team locks a workspace to keep runs from starting (HCP
// Terraform's workspace lock): runs created meanwhile wait, pending, and
// the oldest starts when the lock is lifted. Only the locker unlocks;
// force-unlock, a grant of its own, lifts anyone's lock. A run in
// progress when the lock is taken finishes.

func lockActionPath(org, ws, action string) string {
	return resource.WorkspacePath(org, ws) + "/actions/" + action
}

// MaxLockReason bounds a lock's reason.
const MaxLockReason = 1000

// locker names the caller as a lock's holder.
func locker(ctx context.Context) (string, error) {
	w, err := resource.WriterOf(ctx)
	if err != nil {
		return "", err
	}
	return string(w.Kind) + ":" + w.ID, nil
}

// LockWorkspace locks workspace id for the caller.
func (s *Service) LockWorkspace(ctx context.Context, id, reason string) (workspace.Workspace, error) {
	w, err := s.ws.Workspace(ctx, id)
	if err != nil {
		return workspace.Workspace{}, err
	}
	if err := s.base.Authorize(ctx, lockActionPath(w.Organization, w.Name, "lock"), access.Update); err != nil {
		return workspace.Workspace{}, err
	}
	if len(reason) > MaxLockReason {
		return workspace.Workspace{}, fail.Invalidf("lock reason is longer than %d bytes", MaxLockReason)
	}
	by, err := locker(ctx)
	if err != nil {
		return workspace.Workspace{}, err
	}
	if err := s.base.Record(ctx, "platform.workspace.lock", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "reason": reason,
	}); err != nil {
		return workspace.Workspace{}, err
	}
	res, err := lockWorkspace(ctx, s.base.DB, w.ID, by, reason)
	if err := resource.Swapped(res, err, "workspace %s is already locked", w.Name); err != nil {
		return workspace.Workspace{}, err
	}
	return s.ws.Workspace(ctx, id)
}

// UnlockWorkspace lifts the caller's lock on workspace id, or with force
// anyone's, and starts the oldest waiting run.
func (s *Service) UnlockWorkspace(ctx context.Context, id string, force bool) (workspace.Workspace, error) {
	w, err := s.ws.Workspace(ctx, id)
	if err != nil {
		return workspace.Workspace{}, err
	}
	action := "unlock"
	if force {
		action = "force-unlock"
	}
	if err := s.base.Authorize(ctx, lockActionPath(w.Organization, w.Name, action), access.Update); err != nil {
		return workspace.Workspace{}, err
	}
	by, err := locker(ctx)
	if err != nil {
		return workspace.Workspace{}, err
	}
	switch {
	case w.LockedBy == "":
		return workspace.Workspace{}, fail.Conflictf("workspace %s is not locked", w.Name)
	case !force && w.LockedBy != by:
		// Not a conflict (409): go-tfe reads every 409 of an unlock as
		// "already unlocked", which would mislead.
		return workspace.Workspace{}, fail.Invalidf("workspace %s is locked by someone else; force-unlock lifts another's lock", w.Name)
	}
	if err := s.base.Record(ctx, "platform.workspace."+action, map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "locked_by": w.LockedBy,
	}); err != nil {
		return workspace.Workspace{}, err
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := lockRuns(ctx, tx, w.ID); err != nil {
			return err
		}
		res, err := unlockWorkspace(ctx, tx, w.ID, w.LockedBy)
		if err := resource.Swapped(res, err, "workspace %s's lock changed concurrently; read it again", w.Name); err != nil {
			return err
		}
		active, err := activeRuns(ctx, tx, w.ID)
		if err != nil {
			return err
		}
		if active == 0 {
			return s.promote(ctx, tx, w.ID)
		}
		return nil
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	s.wakeAgents()
	return s.ws.Workspace(ctx, id)
}
