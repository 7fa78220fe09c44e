package organization

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Directory looks organizations and projects up for other domains without
// authorizing: they authorize on the names it returns, or have authorized
// already on their own resources.
type Directory struct{ db db }

// NewDirectory returns a Directory reading d.
func NewDirectory(d *store.DB) Directory { return Directory{db: db{d}} }

// Organization returns the organization named name.
func (d Directory) Organization(ctx context.Context, name string) (Organization, error) {
	return d.db.organization(ctx, name)
}

// Project returns the project with id.
func (d Directory) Project(ctx context.Context, id string) (Project, error) {
	return d.db.project(ctx, id)
}

// AuthorizeList is the check before listing what org holds under path, in
// the order every domain keeps: a malformed organization name is a missing
// organization (a 404 that tells nothing of the caller's grants), then the
// caller's list grant on path, then the organization must exist.
func (d Directory) AuthorizeList(ctx context.Context, base resource.Deps, org, path string) error {
	if err := resource.ValidOrganizationName(org); err != nil {
		return resource.OrgNotFound(org)
	}
	if err := base.Authorize(ctx, path, access.List); err != nil {
		return err
	}
	_, err := d.Organization(ctx, org)
	return err
}
