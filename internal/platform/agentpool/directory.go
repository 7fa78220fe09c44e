package agentpool

import (
	"context"
	"slices"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// Directory checks workspaces' pool assignments for the workspace domain,
// which has authorized its caller on the workspace: it authorizes nothing.
type Directory struct{ db db }

// NewDirectory returns a Directory reading d.
func NewDirectory(d *store.DB) Directory { return Directory{db: db{d}} }

// CheckWorkspace checks that workspace wsID (named wsName) of org may use
// agent pool poolID ("" for none): the pool exists in org and is
// organization-scoped or allows the workspace.
func (d Directory) CheckWorkspace(ctx context.Context, org, poolID, wsID, wsName string) error {
	if poolID == "" {
		return nil
	}
	p, err := d.db.pool(ctx, poolID)
	if err != nil || p.Organization != org {
		return fail.Invalidf("agent pool %q is not an agent pool of organization %q", fail.Clip(poolID), org)
	}
	if !p.OrganizationScoped && !slices.Contains(p.AllowedWorkspaces, wsID) {
		return fail.Invalidf("agent pool %q is not organization-scoped and does not allow workspace %q", p.Name, wsName)
	}
	return nil
}
