package runtrigger

import (
	"context"
	"database/sql"

	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// conn is what a statement runs on: *store.DB or *store.Tx.
type conn interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRow(ctx context.Context, q string, args ...any) *store.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

const columns = `t.id, o.name, t.workspace_id, w.name, t.sourceable_id, s.name, t.created_at`

const from = ` FROM run_triggers t JOIN workspaces w ON w.id = t.workspace_id JOIN workspaces s ON s.id = t.sourceable_id
	JOIN organizations o ON o.id = w.org_id `

func scan(row interface{ Scan(...any) error }) (Trigger, error) {
	var t Trigger
	var created int64
	if err := row.Scan(&t.ID, &t.Organization, &t.WorkspaceID, &t.WorkspaceName, &t.SourceableID, &t.SourceableName, &created); err != nil {
		return Trigger{}, err
	}
	t.CreatedAt = store.Time(created)
	return t, nil
}

func byID(ctx context.Context, c conn, id string) (Trigger, error) {
	t, err := scan(c.QueryRow(ctx, `SELECT `+columns+from+`WHERE t.id = ?`, id))
	return t, resource.NotFound(err, "run trigger %q not found", id)
}

// list lists the triggers whose column col (workspace_id or
// sourceable_id) is wsID, oldest first.
func list(ctx context.Context, c conn, col, wsID string, pg resource.Page) ([]Trigger, int, error) {
	var total int
	if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM run_triggers t WHERE t.`+col+` = ?`, wsID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := c.Query(ctx, `SELECT `+columns+from+`WHERE t.`+col+` = ? ORDER BY t.created_at, t.id LIMIT ? OFFSET ?`,
		wsID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scan)
	return out, total, err
}

// outbound lists every trigger whose source is wsID.
func outbound(ctx context.Context, c conn, wsID string) ([]Trigger, error) {
	rows, err := c.Query(ctx, `SELECT `+columns+from+`WHERE t.sourceable_id = ? ORDER BY t.created_at, t.id`, wsID)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scan)
}

// inOrganization lists every trigger between workspaces of the
// organization workspace wsID belongs to.
func inOrganization(ctx context.Context, c conn, wsID string) ([]Trigger, error) {
	rows, err := c.Query(ctx, `SELECT `+columns+from+`WHERE w.org_id = (SELECT org_id FROM workspaces WHERE id = ?)`, wsID)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scan)
}

func insert(ctx context.Context, c conn, t Trigger) error {
	_, err := c.Exec(ctx, `INSERT INTO run_triggers (id, workspace_id, sourceable_id, created_at) VALUES (?, ?, ?, ?)`,
		t.ID, t.WorkspaceID, t.SourceableID, store.Nanos(t.CreatedAt))
	return resource.Conflict(err, "workspace %q already triggers runs in workspace %q", t.SourceableName, t.WorkspaceName)
}

func remove(ctx context.Context, c conn, id string) error {
	res, err := c.Exec(ctx, `DELETE FROM run_triggers WHERE id = ?`, id)
	return resource.Affected(res, err, "run trigger %q not found", id)
}

func exists(ctx context.Context, c conn, id string) (bool, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT COUNT(*) FROM run_triggers WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}
