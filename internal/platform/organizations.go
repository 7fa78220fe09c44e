package platform

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// OrganizationOptions are the settable fields of an organization.
type OrganizationOptions struct {
	Name  string
	Email string
}

// CreateOrganization creates an organization and its default project.
func (s *Service) CreateOrganization(ctx context.Context, o OrganizationOptions) (Organization, error) {
	if err := resource.ValidOrganizationName(o.Name); err != nil {
		return Organization{}, err
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(o.Name), access.Create); err != nil {
		return Organization{}, err
	}
	if err := validEmail(o.Email); err != nil {
		return Organization{}, err
	}
	now := s.base.Now()
	org := Organization{ID: resource.NewID("org"), Name: o.Name, Email: o.Email, DefaultProjectID: resource.NewID("prj"), CreatedAt: resource.FromNanos(resource.Nanos(now))}
	if err := s.base.Record(ctx, "platform.organization.create", map[string]any{"organization": org.Name, "id": org.ID}); err != nil {
		return Organization{}, err
	}
	err := s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name, email, created_at) VALUES (?, ?, ?, ?)`,
			org.ID, org.Name, org.Email, resource.Nanos(now)); err != nil {
			return resource.Conflict(err, "organization %q already exists", org.Name)
		}
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, ?, '', 1, ?)`,
			org.DefaultProjectID, org.ID, DefaultProjectName, resource.Nanos(now))
		return err
	})
	if err != nil {
		return Organization{}, err
	}
	return org, nil
}

const orgColumns = `o.id, o.name, o.email, o.created_at, p.id`

// orgJoin finds each organization's default project with it.
const orgJoin = `organizations o JOIN projects p ON p.org_id = o.id AND p.is_default = 1`

func scanOrg(row interface{ Scan(...any) error }) (Organization, error) {
	var o Organization
	var created int64
	if err := row.Scan(&o.ID, &o.Name, &o.Email, &created, &o.DefaultProjectID); err != nil {
		return Organization{}, err
	}
	o.CreatedAt = resource.FromNanos(created)
	return o, nil
}

// Organization returns the organization named name.
func (s *Service) Organization(ctx context.Context, name string) (Organization, error) {
	if err := resource.ValidOrganizationName(name); err != nil {
		return Organization{}, fail.NotFoundf("organization %q not found", resource.Clip(name))
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(name), access.Read); err != nil {
		return Organization{}, err
	}
	return s.org(ctx, name)
}

func (s *Service) org(ctx context.Context, name string) (Organization, error) {
	o, err := scanOrg(s.base.DB.QueryRow(ctx, `SELECT `+orgColumns+` FROM `+orgJoin+` WHERE o.name = ?`, name))
	return o, resource.NotFound(err, "organization %q not found", name)
}

// Organizations lists organizations by name, one page at a time, with the total count.
func (s *Service) Organizations(ctx context.Context, p resource.Page) ([]Organization, int, error) {
	if err := s.base.Authorize(ctx, resource.OrgsPath(), access.List); err != nil {
		return nil, 0, err
	}
	p = p.Normalize()
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.base.DB.Query(ctx, `SELECT `+orgColumns+` FROM `+orgJoin+` ORDER BY o.name LIMIT ? OFFSET ?`, p.Size, p.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanOrg)
	return out, total, err
}

// DeleteOrganization deletes an organization with all its projects,
// workspaces and variables.
func (s *Service) DeleteOrganization(ctx context.Context, name string) error {
	if err := resource.ValidOrganizationName(name); err != nil {
		return fail.NotFoundf("organization %q not found", resource.Clip(name))
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(name), access.Delete); err != nil {
		return err
	}
	if _, err := s.org(ctx, name); err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.organization.delete", map[string]any{"organization": name}); err != nil {
		return err
	}
	// Its agent and team tokens go first: a team policy names the
	// organization, and a new one of the same name must not inherit them.
	if err := s.revokeOrganizationTokens(ctx, name); err != nil {
		return err
	}
	res, err := s.base.DB.Exec(ctx, `DELETE FROM organizations WHERE name = ?`, name)
	return resource.Affected(res, err, "organization %q not found", name)
}
