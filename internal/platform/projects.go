package platform

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// ProjectOptions are the settable fields of a project.
type ProjectOptions struct {
	Name        string
	Description string
}

// CreateProject creates a project in org.
func (s *Service) CreateProject(ctx context.Context, org string, o ProjectOptions) (Project, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Project{}, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := resource.ValidProjectName(o.Name); err != nil {
		return Project{}, err
	}
	if err := s.base.Authorize(ctx, resource.ProjectPath(org, o.Name), access.Create); err != nil {
		return Project{}, err
	}
	if err := resource.ValidDescription(o.Description); err != nil {
		return Project{}, err
	}
	parent, err := s.org(ctx, org)
	if err != nil {
		return Project{}, err
	}
	now := s.base.Now()
	p := Project{ID: resource.NewID("prj"), Organization: org, Name: o.Name, Description: o.Description, CreatedAt: resource.FromNanos(resource.Nanos(now))}
	if err := s.base.Record(ctx, "platform.project.create", map[string]any{"organization": org, "project": p.Name, "id": p.ID}); err != nil {
		return Project{}, err
	}
	_, err = s.base.DB.Exec(ctx, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, ?, ?, 0, ?)`,
		p.ID, parent.ID, p.Name, p.Description, resource.Nanos(now))
	if err != nil {
		return Project{}, resource.Conflict(err, "project %q already exists in organization %q", p.Name, org)
	}
	return p, nil
}

const projectColumns = `p.id, o.name, p.name, p.description, p.created_at`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	var created int64
	if err := row.Scan(&p.ID, &p.Organization, &p.Name, &p.Description, &created); err != nil {
		return Project{}, err
	}
	p.CreatedAt = resource.FromNanos(created)
	return p, nil
}

// Project returns the project with id.
func (s *Service) Project(ctx context.Context, id string) (Project, error) {
	p, err := s.project(ctx, id)
	if err != nil {
		return Project{}, err
	}
	if err := s.base.Authorize(ctx, resource.ProjectPath(p.Organization, p.Name), access.Read); err != nil {
		return Project{}, err
	}
	return p, nil
}

// project looks a project up without authorizing: callers authorize on
// the names it returns.
func (s *Service) project(ctx context.Context, id string) (Project, error) {
	if !resource.ValidID("prj", id) {
		return Project{}, fail.NotFoundf("project %q not found", resource.Clip(id))
	}
	p, err := scanProject(s.base.DB.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects p JOIN organizations o ON o.id = p.org_id WHERE p.id = ?`, id))
	return p, resource.NotFound(err, "project %q not found", id)
}

// Projects lists org's projects by name, one page at a time, with the total count.
func (s *Service) Projects(ctx context.Context, org string, pg resource.Page) ([]Project, int, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return nil, 0, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, resource.ProjectsPath(org), access.List); err != nil {
		return nil, 0, err
	}
	parent, err := s.org(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*) FROM projects WHERE org_id = ?`, parent.ID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.base.DB.Query(ctx, `SELECT `+projectColumns+` FROM projects p JOIN organizations o ON o.id = p.org_id
		WHERE p.org_id = ? ORDER BY p.name LIMIT ? OFFSET ?`, parent.ID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanProject)
	return out, total, err
}
