package state

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

const columns = `id, workspace_id, run_id, serial, lineage, md5, size, created_at`

func scan(row interface{ Scan(...any) error }) (Version, error) {
	var sv Version
	var created int64
	if err := row.Scan(&sv.ID, &sv.WorkspaceID, &sv.RunID, &sv.Serial, &sv.Lineage, &sv.MD5, &sv.Size, &created); err != nil {
		return Version{}, err
	}
	sv.CreatedAt = store.Time(created)
	return sv, nil
}

const currentOf = `SELECT ` + columns + ` FROM state_versions WHERE workspace_id = ? ORDER BY number DESC LIMIT 1`

// insert stores sv, sealed, as its workspace's newest version, unless it
// repeats the current one, which it returns instead.
func (d db) insert(ctx context.Context, sv Version, sealed []byte) (Version, error) {
	err := d.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "workspace-state:"+sv.WorkspaceID); err != nil {
			return err
		}
		cur, err := scan(tx.QueryRow(ctx, currentOf, sv.WorkspaceID))
		number := 1
		switch {
		case store.IsNotFound(err):
		case err != nil:
			return err
		case cur.Lineage == sv.Lineage && cur.Serial == sv.Serial && cur.MD5 == sv.MD5:
			// An apply that changed nothing leaves the state as it was
			// (same serial): nothing to store.
			sv = cur
			return nil
		case cur.Lineage != sv.Lineage:
			return fail.Conflictf("state lineage %q does not match the workspace's %q", fail.Clip(sv.Lineage), cur.Lineage)
		case sv.Serial <= cur.Serial:
			return fail.Conflictf("state serial %d is not greater than the current serial %d", sv.Serial, cur.Serial)
		}
		if err == nil {
			if err := tx.QueryRow(ctx, `SELECT MAX(number) + 1 FROM state_versions WHERE workspace_id = ?`, sv.WorkspaceID).Scan(&number); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO state_versions (id, workspace_id, run_id, number, serial, lineage, md5, size, state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sv.ID, sv.WorkspaceID, sv.RunID, number, sv.Serial, sv.Lineage, sv.MD5, sv.Size, sealed, store.Nanos(sv.CreatedAt))
		return err
	})
	if err != nil {
		return Version{}, err
	}
	return sv, nil
}

func (d db) version(ctx context.Context, id string) (Version, error) {
	if !resource.ValidID("sv", id) {
		return Version{}, fail.NotFoundf("state version %q not found", fail.Clip(id))
	}
	sv, err := scan(d.QueryRow(ctx, `SELECT `+columns+` FROM state_versions WHERE id = ?`, id))
	return sv, resource.NotFound(err, "state version %q not found", id)
}

func (d db) current(ctx context.Context, wsID string) (Version, error) {
	return scan(d.QueryRow(ctx, currentOf, wsID))
}

func (d db) list(ctx context.Context, wsID string, pg resource.Page) ([]Version, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM state_versions WHERE workspace_id = ?`, wsID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := d.Query(ctx, `SELECT `+columns+` FROM state_versions WHERE workspace_id = ? ORDER BY number DESC LIMIT ? OFFSET ?`,
		wsID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scan)
	return out, total, err
}

func (d db) sealed(ctx context.Context, id string) (sealed []byte, wsID string, err error) {
	err = d.QueryRow(ctx, `SELECT state, workspace_id FROM state_versions WHERE id = ?`, id).Scan(&sealed, &wsID)
	return sealed, wsID, resource.NotFound(err, "state version %q not found", id)
}
