package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// preflight are checks run before a migration, which fail it with a message
// an operator can act on where the migration's own SQL would fail with a
// bare constraint violation.
var preflight = map[int]func(context.Context, *sql.Conn) error{
	10: workspaceNameClashes,
}

// maxClashes bounds the names one error lists.
const maxClashes = 50

// workspaceNameClashes refuses migration 10 (workspace names unique ignoring
// case) while an organization holds names that differ only by case, and
// lists them. Renaming one of them automatically would change its runs'
// workload-identity subject under the feet of the trust policies that name
// it, so the operator chooses, with the runcred that let them in.
func workspaceNameClashes(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, `SELECT o.name, w.name FROM workspaces w JOIN organizations o ON o.id = w.org_id
		WHERE EXISTS (SELECT 1 FROM workspaces x WHERE x.org_id = w.org_id AND lower(x.name) = lower(w.name) AND x.id <> w.id)
		ORDER BY o.name, lower(w.name), w.name`)
	if err != nil {
		return fmt.Errorf("store: checking workspace names: %w", mapErr(err))
	}
	defer rows.Close()
	var groups []string
	var org, key string
	var names []string
	n := 0
	flush := func() {
		if len(names) > 0 {
			groups = append(groups, fmt.Sprintf("organization %q: %s", org, strings.Join(names, ", ")))
		}
		names = nil
	}
	for rows.Next() {
		var o, w string
		if err := rows.Scan(&o, &w); err != nil {
			return err
		}
		if o != org || strings.ToLower(w) != key {
			flush()
			org, key = o, strings.ToLower(w)
			if n++; n > maxClashes {
				break
			}
		}
		names = append(names, fmt.Sprintf("%q", w))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n <= maxClashes {
		flush()
	}
	if len(groups) == 0 {
		return nil
	}
	more := ""
	if n > maxClashes {
		more = fmt.Sprintf("; and more (the first %d shown)", maxClashes)
	}
	return fmt.Errorf("store: workspace names must be unique ignoring case (as in HCP Terraform), and these differ only by case: %s%s. "+
		"Rename or delete all but one of each with the runcred you have, then upgrade", strings.Join(groups, "; "), more)
}
