package run

import (
	"context"

	"github.com/runcred/runcred/internal/access"
)

// Permissions are what the caller may do to a run, as the policies that
// Apply, Discard, Cancel and ForceCancel check would decide now. The CLIs
// read them before they offer to apply or cancel a run they started.
type Permissions struct {
	Apply, Discard, Cancel, ForceCancel bool
}

// Permissions returns the caller's permissions on r; a workspace it cannot
// find grants nothing.
func (s *Service) Permissions(ctx context.Context, r Run) Permissions {
	w, err := s.ws.Workspace(ctx, r.WorkspaceID)
	if err != nil {
		return Permissions{}
	}
	may := func(action string) bool {
		return s.base.Authorize(ctx, runActionPath(w.Organization, w.Name, r.ID, action), access.Update) == nil
	}
	return Permissions{Apply: may("apply"), Discard: may("discard"), Cancel: may("cancel"), ForceCancel: may("force-cancel")}
}
