package team

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

const teamColumns = `t.id, o.name, t.name, t.visibility, t.allow_member_token_management, t.created_at`

const teamFrom = ` FROM teams t JOIN organizations o ON o.id = t.org_id `

func scanTeam(row interface{ Scan(...any) error }) (Team, error) {
	var t Team
	var created, members int64
	if err := row.Scan(&t.ID, &t.Organization, &t.Name, &t.Visibility, &members, &created); err != nil {
		return Team{}, err
	}
	t.CreatedAt, t.AllowMemberTokenManagement = store.Time(created), members == 1
	return t, nil
}

func (d db) insert(ctx context.Context, orgID string, t Team) error {
	_, err := d.Exec(ctx, `INSERT INTO teams (id, org_id, name, visibility, allow_member_token_management, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, orgID, t.Name, t.Visibility, resource.B2I(t.AllowMemberTokenManagement), store.Nanos(t.CreatedAt))
	return resource.Conflict(err, "team %q already exists in organization %q", t.Name, t.Organization)
}

func (d db) team(ctx context.Context, id string) (Team, error) {
	if !resource.ValidID("team", id) {
		return Team{}, fail.NotFoundf("team %q not found", fail.Clip(id))
	}
	t, err := scanTeam(d.QueryRow(ctx, `SELECT `+teamColumns+teamFrom+`WHERE t.id = ?`, id))
	return t, resource.NotFound(err, "team %q not found", id)
}

func (d db) list(ctx context.Context, org string, f Filter) ([]Team, int, error) {
	where, args := `WHERE o.name = ?`, []any{org}
	if len(f.Names) > 0 {
		where += ` AND t.name IN (?` + strings.Repeat(", ?", len(f.Names)-1) + `)`
		for _, n := range f.Names {
			args = append(args, n)
		}
	}
	if f.Search != "" {
		where, args = where+` AND t.name LIKE ? ESCAPE '\'`, append(args, resource.LikeContains(f.Search))
	}
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*)`+teamFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := d.Query(ctx, `SELECT `+teamColumns+teamFrom+where+` ORDER BY t.name LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanTeam)
	return out, total, err
}

func (d db) update(ctx context.Context, t Team) error {
	res, err := d.Exec(ctx, `UPDATE teams SET name = ?, visibility = ?, allow_member_token_management = ? WHERE id = ?`,
		t.Name, t.Visibility, resource.B2I(t.AllowMemberTokenManagement), t.ID)
	return resource.Affected(res, resource.Conflict(err, "team %q already exists in organization %q", t.Name, t.Organization), "team %q not found", t.ID)
}

// delete deletes team id with the ledger rows of its (revoked) tokens.
func (d db) delete(ctx context.Context, id string) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM platform_tokens WHERE owner_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM teams WHERE id = ?`, id)
		return resource.Affected(res, err, "team %q not found", id)
	})
}
