package platform

import (
	"context"
	"database/sql"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// OrganizationOptions are the settable fields of an organization.
type OrganizationOptions struct {
	Name  string
	Email string
}

// CreateOrganization creates an organization and its default project.
func (s *Service) CreateOrganization(ctx context.Context, o OrganizationOptions) (Organization, error) {
	if err := ValidOrganizationName(o.Name); err != nil {
		return Organization{}, err
	}
	if err := s.authorize(ctx, orgPath(o.Name), access.Create); err != nil {
		return Organization{}, err
	}
	if err := validEmail(o.Email); err != nil {
		return Organization{}, err
	}
	now := s.now()
	org := Organization{ID: newID("org"), Name: o.Name, Email: o.Email, DefaultProjectID: newID("prj"), CreatedAt: fromNanos(nanos(now))}
	if err := s.record(ctx, "platform.organization.create", map[string]any{"organization": org.Name, "id": org.ID}); err != nil {
		return Organization{}, err
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name, email, created_at) VALUES (?, ?, ?, ?)`,
			org.ID, org.Name, org.Email, nanos(now)); err != nil {
			return conflict(err, "organization %q already exists", org.Name)
		}
		_, err := tx.Exec(ctx, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, ?, '', 1, ?)`,
			org.DefaultProjectID, org.ID, DefaultProjectName, nanos(now))
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
	o.CreatedAt = fromNanos(created)
	return o, nil
}

// Organization returns the organization named name.
func (s *Service) Organization(ctx context.Context, name string) (Organization, error) {
	if err := ValidOrganizationName(name); err != nil {
		return Organization{}, fail.NotFoundf("organization %q not found", clip(name))
	}
	if err := s.authorize(ctx, orgPath(name), access.Read); err != nil {
		return Organization{}, err
	}
	return s.org(ctx, name)
}

func (s *Service) org(ctx context.Context, name string) (Organization, error) {
	o, err := scanOrg(s.db.QueryRow(ctx, `SELECT `+orgColumns+` FROM `+orgJoin+` WHERE o.name = ?`, name))
	return o, notFound(err, "organization %q not found", name)
}

// Organizations lists organizations by name, one page at a time, with the total count.
func (s *Service) Organizations(ctx context.Context, p Page) ([]Organization, int, error) {
	if err := s.authorize(ctx, orgsPath(), access.List); err != nil {
		return nil, 0, err
	}
	p = p.Normalize()
	var total int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+orgColumns+` FROM `+orgJoin+` ORDER BY o.name LIMIT ? OFFSET ?`, p.Size, p.offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := scanAll(rows, scanOrg)
	return out, total, err
}

// DeleteOrganization deletes an organization with all its projects,
// workspaces and variables.
func (s *Service) DeleteOrganization(ctx context.Context, name string) error {
	if err := ValidOrganizationName(name); err != nil {
		return fail.NotFoundf("organization %q not found", clip(name))
	}
	if err := s.authorize(ctx, orgPath(name), access.Delete); err != nil {
		return err
	}
	if _, err := s.org(ctx, name); err != nil {
		return err
	}
	if err := s.record(ctx, "platform.organization.delete", map[string]any{"organization": name}); err != nil {
		return err
	}
	// Its agent and team tokens go first: a team policy names the
	// organization, and a new one of the same name must not inherit them.
	if err := s.revokeOrganizationTokens(ctx, name); err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `DELETE FROM organizations WHERE name = ?`, name)
	return affected(res, err, "organization %q not found", name)
}

// scanAll reads every row with scan and closes rows.
func scanAll[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// affected turns "no row changed" into not found.
func affected(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fail.NotFoundf(format, args...)
	}
	return nil
}

// swapped turns "no row changed" by a compare-and-swap into a conflict.
func swapped(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fail.Conflictf(format, args...)
	}
	return nil
}
