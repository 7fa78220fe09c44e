package organization

import (
	"context"

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
