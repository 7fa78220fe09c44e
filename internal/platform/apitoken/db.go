package apitoken

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

const columns = `t.id, t.kind, o.name, t.owner_id, t.legacy, t.description, t.accessor,
	t.created_by_kind, t.created_by_id, t.created_at, t.expires_at`

const from = ` FROM platform_tokens t JOIN organizations o ON o.id = t.org_id `

func scan(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var kind, by string
	var desc *string
	var legacy, created, expires int64
	if err := row.Scan(&t.ID, &kind, &t.Organization, &t.OwnerID, &legacy, &desc, &t.accessor,
		&by, &t.CreatedBy.ID, &created, &expires); err != nil {
		return Token{}, err
	}
	t.Kind, t.Legacy, t.CreatedBy.Kind, t.CreatedAt = Kind(kind), legacy != 0, resource.WriterKind(by), store.Time(created)
	if desc != nil {
		t.Description = *desc
	}
	if expires != 0 {
		t.ExpiresAt = store.Time(expires)
	}
	return t, nil
}

func (d db) insert(ctx context.Context, t Token) error {
	var expires int64
	if !t.ExpiresAt.IsZero() {
		expires = store.Nanos(t.ExpiresAt)
	}
	_, err := d.Exec(ctx, `INSERT INTO platform_tokens (id, kind, org_id, owner_id, legacy, description, accessor,
		created_by_kind, created_by_id, created_at, expires_at)
		VALUES (?, ?, (SELECT id FROM organizations WHERE name = ?), ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, string(t.Kind), t.Organization, t.OwnerID, resource.B2I(t.Legacy), t.Description, t.accessor,
		string(t.CreatedBy.Kind), t.CreatedBy.ID, store.Nanos(t.CreatedAt), expires)
	return err
}

func (d db) token(ctx context.Context, id string) (Token, error) {
	if !resource.ValidID("at", id) {
		return Token{}, fail.NotFoundf("authentication token %q not found", fail.Clip(id))
	}
	t, err := scan(d.QueryRow(ctx, `SELECT `+columns+from+`WHERE t.id = ?`, id))
	return t, resource.NotFound(err, "authentication token %q not found", id)
}

func (d db) legacy(ctx context.Context, owner string) (Token, error) {
	return scan(d.QueryRow(ctx, `SELECT `+columns+from+`WHERE t.owner_id = ? AND t.legacy = 1`, owner))
}

func (d db) list(ctx context.Context, where string, args []any, pg resource.Page) ([]Token, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*)`+from+`WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	rows, err := d.Query(ctx, `SELECT `+columns+from+`WHERE `+where+` ORDER BY t.created_at, t.id LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scan)
	return out, total, err
}

func (d db) accessors(ctx context.Context, owner string) ([]string, error) {
	rows, err := d.Query(ctx, `SELECT accessor FROM platform_tokens WHERE owner_id = ?`, owner)
	if err != nil {
		return nil, err
	}
	return store.Strings(rows)
}

// owners returns the ids of org's agent pools and teams.
func (d db) owners(ctx context.Context, org string) (pools, teams []string, err error) {
	owners := func(q string) ([]string, error) {
		rows, err := d.Query(ctx, q, org)
		if err != nil {
			return nil, err
		}
		return store.Strings(rows)
	}
	if pools, err = owners(`SELECT p.id FROM agent_pools p JOIN organizations o ON o.id = p.org_id WHERE o.name = ?`); err != nil {
		return nil, nil, err
	}
	teams, err = owners(`SELECT t.id FROM teams t JOIN organizations o ON o.id = t.org_id WHERE o.name = ?`)
	return pools, teams, err
}

func (d db) delete(ctx context.Context, id string) error {
	res, err := d.Exec(ctx, `DELETE FROM platform_tokens WHERE id = ?`, id)
	return resource.Affected(res, err, "authentication token %q not found", id)
}
