package platform

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
)

// ProjectOptions are the settable fields of a project.
type ProjectOptions struct {
	Name        string
	Description string
}

// CreateProject creates a project in org.
func (s *Service) CreateProject(ctx context.Context, org string, o ProjectOptions) (Project, error) {
	if err := ValidOrganizationName(org); err != nil {
		return Project{}, fail.NotFoundf("organization %q not found", clip(org))
	}
	if err := ValidProjectName(o.Name); err != nil {
		return Project{}, err
	}
	if err := s.authorize(ctx, projectPath(org, o.Name), access.Create); err != nil {
		return Project{}, err
	}
	if err := validDescription(o.Description); err != nil {
		return Project{}, err
	}
	parent, err := s.org(ctx, org)
	if err != nil {
		return Project{}, err
	}
	now := s.now()
	p := Project{ID: newID("prj"), Organization: org, Name: o.Name, Description: o.Description, CreatedAt: fromNanos(nanos(now))}
	if err := s.record(ctx, "platform.project.create", map[string]any{"organization": org, "project": p.Name, "id": p.ID}); err != nil {
		return Project{}, err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, ?, ?, 0, ?)`,
		p.ID, parent.ID, p.Name, p.Description, nanos(now))
	if err != nil {
		return Project{}, conflict(err, "project %q already exists in organization %q", p.Name, org)
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
	p.CreatedAt = fromNanos(created)
	return p, nil
}

// Project returns the project with id.
func (s *Service) Project(ctx context.Context, id string) (Project, error) {
	p, err := s.project(ctx, id)
	if err != nil {
		return Project{}, err
	}
	if err := s.authorize(ctx, projectPath(p.Organization, p.Name), access.Read); err != nil {
		return Project{}, err
	}
	return p, nil
}

// project looks a project up without authorizing: callers authorize on
// the names it returns.
func (s *Service) project(ctx context.Context, id string) (Project, error) {
	if !validID("prj", id) {
		return Project{}, fail.NotFoundf("project %q not found", clip(id))
	}
	p, err := scanProject(s.db.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects p JOIN organizations o ON o.id = p.org_id WHERE p.id = ?`, id))
	return p, notFound(err, "project %q not found", id)
}

// Projects lists org's projects by name, one page at a time, with the total count.
func (s *Service) Projects(ctx context.Context, org string, pg Page) ([]Project, int, error) {
	if err := ValidOrganizationName(org); err != nil {
		return nil, 0, fail.NotFoundf("organization %q not found", clip(org))
	}
	if err := s.authorize(ctx, projectsPath(org), access.List); err != nil {
		return nil, 0, err
	}
	parent, err := s.org(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	var total int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM projects WHERE org_id = ?`, parent.ID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+projectColumns+` FROM projects p JOIN organizations o ON o.id = p.org_id
		WHERE p.org_id = ? ORDER BY p.name LIMIT ? OFFSET ?`, parent.ID, pg.Size, pg.offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := scanAll(rows, scanProject)
	return out, total, err
}
