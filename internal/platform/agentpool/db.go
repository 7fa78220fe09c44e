package agentpool

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

const poolColumns = `p.id, o.name, p.name, p.organization_scoped, p.created_at`

const poolFrom = ` FROM agent_pools p JOIN organizations o ON o.id = p.org_id `

func scanPool(row interface{ Scan(...any) error }) (Pool, error) {
	var p Pool
	var scoped, created int64
	if err := row.Scan(&p.ID, &p.Organization, &p.Name, &scoped, &created); err != nil {
		return Pool{}, err
	}
	p.OrganizationScoped, p.CreatedAt = scoped != 0, store.Time(created)
	return p, nil
}

func setWorkspaces(ctx context.Context, tx *store.Tx, pool string, ids []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM agent_pool_workspaces WHERE pool_id = ?`, pool); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_pool_workspaces (pool_id, workspace_id) VALUES (?, ?)`, pool, id); err != nil {
			return err
		}
	}
	return nil
}

func (d db) insert(ctx context.Context, orgID string, p Pool) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_pools (id, org_id, name, organization_scoped, created_at) VALUES (?, ?, ?, ?, ?)`,
			p.ID, orgID, p.Name, resource.B2I(p.OrganizationScoped), store.Nanos(p.CreatedAt)); err != nil {
			return resource.Conflict(err, "agent pool %q already exists in organization %q", p.Name, p.Organization)
		}
		return setWorkspaces(ctx, tx, p.ID, p.AllowedWorkspaces)
	})
}

// pool looks pool id up, with its workspaces.
func (d db) pool(ctx context.Context, id string) (Pool, error) {
	if !resource.ValidID("apool", id) {
		return Pool{}, fail.NotFoundf("agent pool %q not found", fail.Clip(id))
	}
	p, err := scanPool(d.QueryRow(ctx, `SELECT `+poolColumns+poolFrom+`WHERE p.id = ?`, id))
	if err != nil {
		return Pool{}, resource.NotFound(err, "agent pool %q not found", id)
	}
	return p, d.relations(ctx, &p)
}

func (d db) relations(ctx context.Context, p *Pool) error {
	rows, err := d.Query(ctx, `SELECT workspace_id FROM agent_pool_workspaces WHERE pool_id = ? ORDER BY workspace_id`, p.ID)
	if err != nil {
		return err
	}
	if p.AllowedWorkspaces, err = store.Strings(rows); err != nil {
		return err
	}
	rows, err = d.Query(ctx, `SELECT id FROM workspaces WHERE agent_pool_id = ? ORDER BY id`, p.ID)
	if err != nil {
		return err
	}
	p.Workspaces, err = store.Strings(rows)
	return err
}

func (d db) list(ctx context.Context, org string, f Filter) ([]Pool, int, error) {
	where, args := `WHERE o.name = ?`, []any{org}
	if f.Search != "" {
		where, args = where+` AND p.name LIKE ? ESCAPE '\'`, append(args, resource.LikeContains(f.Search))
	}
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*)`+poolFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := d.Query(ctx, `SELECT `+poolColumns+poolFrom+where+` ORDER BY p.name LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanPool)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		if err := d.relations(ctx, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

func (d db) update(ctx context.Context, p Pool) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE agent_pools SET name = ?, organization_scoped = ? WHERE id = ?`, p.Name, resource.B2I(p.OrganizationScoped), p.ID)
		if err := resource.Affected(res, resource.Conflict(err, "agent pool %q already exists in organization %q", p.Name, p.Organization), "agent pool %q not found", p.ID); err != nil {
			return err
		}
		return setWorkspaces(ctx, tx, p.ID, p.AllowedWorkspaces)
	})
}

// delete deletes pool p with the ledger rows of its (revoked) tokens,
// unless a workspace uses it.
func (d db) delete(ctx context.Context, p Pool) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM platform_tokens WHERE owner_id = ?`, p.ID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM agent_pools WHERE id = ? AND NOT EXISTS (SELECT 1 FROM workspaces WHERE agent_pool_id = ?)`, p.ID, p.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return inUse(p) // assigned meanwhile; its tokens are revoked, new ones may be issued
		}
		return nil
	})
}
