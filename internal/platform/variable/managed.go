package variable

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// Managed variables. A variable written by a run of another workspace (a
// manager workspace's run token, granted to manage this one) is managed by
// that workspace from then on. What others may do with it is the
// organization's managed-variables setting: under "policy" (the default)
// they may write it and the protected-variables policy stops the run that
// would use their value; under "locked" only the manager's runs may change
// or delete it. Whoever holds sudo on the variable (who may change or
// clear its manager anyway) is not held by the lock.

// adoptManager makes the run of another workspace that writes v, if that
// is the writer, v's manager, unless v has one or the write names one.
func adoptManager(w workspace.Workspace, v *Variable, o Options) {
	wr := v.WrittenBy
	if o.ManagingWorkspaceID == nil && v.ManagingWorkspaceID == "" && wr.Kind == resource.WriterRun &&
		wr.WorkspaceID != "" && wr.WorkspaceID != w.ID {
		v.ManagingWorkspaceID = wr.WorkspaceID
	}
}

// checkLocked refuses a change of managed variable v of w by anyone but a
// run of its manager when w's organization locks managed variables.
func (s *Service) checkLocked(ctx context.Context, w workspace.Workspace, v Variable) error {
	if v.ManagingWorkspaceID == "" {
		return nil
	}
	writer, err := resource.WriterOf(ctx)
	if err != nil {
		return err
	}
	if writer.Kind == resource.WriterRun && writer.WorkspaceID == v.ManagingWorkspaceID {
		return nil
	}
	org, err := s.orgs.Organization(ctx, w.Organization)
	if err != nil {
		return err
	}
	if org.ManagedVariables != organization.ManagedLocked {
		return nil
	}
	if s.base.Authorize(ctx, resource.VarPath(w.Organization, w.Name, v.Key), access.Sudo) == nil {
		return nil
	}
	manager := v.ManagingWorkspaceID
	if m, err := s.ws.Workspace(ctx, v.ManagingWorkspaceID); err == nil {
		manager = m.Name
	}
	return fail.Invalidf("variable %q of workspace %q is managed by workspace %q, and organization %q locks managed variables: only runs of %q may change or delete it",
		v.Key, w.Name, manager, w.Organization, manager)
}
