package workspace

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Directory looks workspaces up by id for other domains.
type Directory struct {
	base resource.Deps
	db   db
	orgs organization.Directory
}

// NewDirectory returns a Directory.
func NewDirectory(base resource.Deps, orgs organization.Directory) Directory {
	return Directory{base: base, db: db{base.DB}, orgs: orgs}
}

// Workspace looks workspace id up without authorizing: callers authorize
// on the names it returns.
func (d Directory) Workspace(ctx context.Context, id string) (Workspace, error) {
	return d.db.byID(ctx, id)
}

// For looks workspace id up and authorizes capability on it. The lookup
// must come first to learn the names the path is made of; a denial and a
// missing workspace look the same to API clients (both 404).
func (d Directory) For(ctx context.Context, id, capability string) (Workspace, error) {
	w, err := d.db.byID(ctx, id)
	if err != nil {
		return Workspace{}, err
	}
	if err := d.base.Authorize(ctx, resource.WorkspacePath(w.Organization, w.Name), capability); err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// WorkspaceOrganization is the name of workspace id's organization.
func (d Directory) WorkspaceOrganization(ctx context.Context, id string) (string, error) {
	w, err := d.db.byID(ctx, id)
	return w.Organization, err
}

// AuthorizeProject checks that project id is in org and that the caller
// may put workspaces in it (update on the project).
func (d Directory) AuthorizeProject(ctx context.Context, org, id string) error {
	p, err := d.orgs.Project(ctx, id)
	if err != nil || p.Organization != org {
		return fail.Invalidf("project %q is not a project of organization %q", fail.Clip(id), org)
	}
	return d.base.Authorize(ctx, resource.ProjectPath(org, p.Name), access.Update)
}
