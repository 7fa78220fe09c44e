package organization

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

const orgColumns = `o.id, o.name, o.email, o.created_at, p.id, o.managed_variables,
	COALESCE((SELECT t.id FROM teams t WHERE t.org_id = o.id AND t.is_owners = 1), '')`

// orgJoin finds each organization's default project with it.
const orgJoin = `organizations o JOIN projects p ON p.org_id = o.id AND p.is_default = 1`

func scanOrg(row interface{ Scan(...any) error }) (Organization, error) {
	var o Organization
	var created int64
	if err := row.Scan(&o.ID, &o.Name, &o.Email, &created, &o.DefaultProjectID, &o.ManagedVariables, &o.OwnersTeamID); err != nil {
		return Organization{}, err
	}
	o.CreatedAt = store.Time(created)
	return o, nil
}

// insertOrganization inserts org with its default project.
func (d db) insertOrganization(ctx context.Context, org Organization) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		now := store.Nanos(org.CreatedAt)
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name, email, managed_variables, created_at) VALUES (?, ?, ?, ?, ?)`,
			org.ID, org.Name, org.Email, org.ManagedVariables, now); err != nil {
			return resource.Conflict(err, "organization %q already exists", org.Name)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, ?, '', 1, ?)`,
			org.DefaultProjectID, org.ID, DefaultProjectName, now); err != nil {
			return err
		}
		// The owners team (package team's), made with the organization as
		// in HCP Terraform.
		_, err := tx.Exec(ctx, `INSERT INTO teams (id, org_id, name, visibility, allow_member_token_management, is_owners, created_at)
			VALUES (?, ?, 'owners', 'organization', 1, 1, ?)`, org.OwnersTeamID, org.ID, now)
		return err
	})
}

func (d db) organization(ctx context.Context, name string) (Organization, error) {
	o, err := scanOrg(d.QueryRow(ctx, `SELECT `+orgColumns+` FROM `+orgJoin+` WHERE o.name = ?`, name))
	return o, resource.NotFound(err, "organization %q not found", name)
}

func (d db) organizations(ctx context.Context, p resource.Page) ([]Organization, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM organizations`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := d.Query(ctx, `SELECT `+orgColumns+` FROM `+orgJoin+` ORDER BY o.name LIMIT ? OFFSET ?`, p.Size, p.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanOrg)
	return out, total, err
}

func (d db) deleteOrganization(ctx context.Context, name string) error {
	res, err := d.Exec(ctx, `DELETE FROM organizations WHERE name = ?`, name)
	return resource.Affected(res, err, "organization %q not found", name)
}

const projectColumns = `p.id, o.name, p.name, p.description, p.created_at`

func scanProject(row interface{ Scan(...any) error }) (Project, error) {
	var p Project
	var created int64
	if err := row.Scan(&p.ID, &p.Organization, &p.Name, &p.Description, &created); err != nil {
		return Project{}, err
	}
	p.CreatedAt = store.Time(created)
	return p, nil
}

func (d db) insertProject(ctx context.Context, orgID string, p Project) error {
	_, err := d.Exec(ctx, `INSERT INTO projects (id, org_id, name, description, is_default, created_at) VALUES (?, ?, ?, ?, 0, ?)`,
		p.ID, orgID, p.Name, p.Description, store.Nanos(p.CreatedAt))
	return resource.Conflict(err, "project %q already exists in organization %q", p.Name, p.Organization)
}

func (d db) project(ctx context.Context, id string) (Project, error) {
	if !resource.ValidID("prj", id) {
		return Project{}, fail.NotFoundf("project %q not found", fail.Clip(id))
	}
	p, err := scanProject(d.QueryRow(ctx, `SELECT `+projectColumns+` FROM projects p JOIN organizations o ON o.id = p.org_id WHERE p.id = ?`, id))
	return p, resource.NotFound(err, "project %q not found", id)
}

func (d db) projects(ctx context.Context, orgID string, pg resource.Page) ([]Project, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM projects WHERE org_id = ?`, orgID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := d.Query(ctx, `SELECT `+projectColumns+` FROM projects p JOIN organizations o ON o.id = p.org_id
		WHERE p.org_id = ? ORDER BY p.name LIMIT ? OFFSET ?`, orgID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanProject)
	return out, total, err
}

func (d db) updateOrganization(ctx context.Context, o Organization) error {
	res, err := d.Exec(ctx, `UPDATE organizations SET email = ?, managed_variables = ? WHERE id = ?`, o.Email, o.ManagedVariables, o.ID)
	return resource.Affected(res, err, "organization %q not found", o.Name)
}

func (d db) updateProject(ctx context.Context, p Project) error {
	res, err := d.Exec(ctx, `UPDATE projects SET name = ?, description = ? WHERE id = ?`, p.Name, p.Description, p.ID)
	if err != nil {
		return resource.Conflict(err, "project %q already exists in organization %q", p.Name, p.Organization)
	}
	return resource.Affected(res, nil, "project %q not found", p.ID)
}

// deleteProject deletes p unless it is its organization's default or holds
// a workspace; the check and the delete are one statement, so a workspace
// created meanwhile is not lost.
func (d db) deleteProject(ctx context.Context, p Project) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		var isDefault, workspaces int
		if err := tx.QueryRow(ctx, `SELECT is_default, (SELECT COUNT(*) FROM workspaces WHERE project_id = p.id) FROM projects p WHERE p.id = ?`,
			p.ID).Scan(&isDefault, &workspaces); err != nil {
			return resource.NotFound(err, "project %q not found", p.ID)
		}
		if isDefault == 1 {
			return fail.Conflictf("project %q is its organization's default project and cannot be deleted", p.Name)
		}
		if workspaces > 0 {
			return fail.Conflictf("project %q still holds %d workspaces; move or delete them first", p.Name, workspaces)
		}
		res, err := tx.Exec(ctx, `DELETE FROM projects WHERE id = ? AND is_default = 0
			AND NOT EXISTS (SELECT 1 FROM workspaces WHERE project_id = ?)`, p.ID, p.ID)
		return resource.Swapped(res, err, "project %q changed while it was being deleted", p.Name)
	})
}
