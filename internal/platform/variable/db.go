package variable

import (
	"context"
	"database/sql"

	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// db is the domain's SQL.
type db struct{ *store.DB }

const variableColumns = `id, workspace_id, key, category, description, hcl, sensitive, value, version_id,
	written_by_kind, written_by_id, written_by_name, written_by_workspace_id, written_at, managing_workspace_id, created_at`

func scanVariable(row interface{ Scan(...any) error }) (storedVariable, error) {
	var v storedVariable
	var hcl, sensitive, written, created int64
	var kind string
	var manager *string
	err := row.Scan(&v.ID, &v.WorkspaceID, &v.Key, &v.Category, &v.Description, &hcl, &sensitive, &v.sealed, &v.VersionID,
		&kind, &v.WrittenBy.ID, &v.WrittenBy.Name, &v.WrittenBy.WorkspaceID, &written, &manager, &created)
	if err != nil {
		return storedVariable{}, err
	}
	v.HCL, v.Sensitive, v.WrittenBy.Kind = hcl != 0, sensitive != 0, resource.WriterKind(kind)
	v.WrittenAt, v.CreatedAt = store.Time(written), store.Time(created)
	if manager != nil {
		v.ManagingWorkspaceID = *manager
	}
	return v, nil
}

const setVariableColumns = `id, varset_id, key, category, description, hcl, sensitive, value, version_id,
	written_by_kind, written_by_id, written_by_name, written_by_workspace_id, written_at, managing_workspace_id, created_at`

// nullable stores "" as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (d db) insertVariable(ctx context.Context, v Variable, sealed []byte) error {
	_, err := d.Exec(ctx, `INSERT INTO workspace_variables (id, workspace_id, key, category, description, hcl, sensitive, value,
		version_id, written_by_kind, written_by_id, written_by_name, written_by_workspace_id, written_at, managing_workspace_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.WorkspaceID, v.Key, v.Category, v.Description, resource.B2I(v.HCL), resource.B2I(v.Sensitive), sealed,
		v.VersionID, string(v.WrittenBy.Kind), v.WrittenBy.ID, v.WrittenBy.Name, v.WrittenBy.WorkspaceID, store.Nanos(v.WrittenAt),
		nullable(v.ManagingWorkspaceID), store.Nanos(v.CreatedAt))
	return err
}

func (d db) variable(ctx context.Context, wsID, id string) (storedVariable, error) {
	return scanVariable(d.QueryRow(ctx, `SELECT `+variableColumns+` FROM workspace_variables WHERE id = ? AND workspace_id = ?`, id, wsID))
}

func (d db) variables(ctx context.Context, wsID string) ([]storedVariable, error) {
	rows, err := d.Query(ctx, `SELECT `+variableColumns+` FROM workspace_variables WHERE workspace_id = ? ORDER BY category, key`, wsID)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scanVariable)
}

// updateVariable writes v if its version is still oldVersion: a
// compare-and-swap, so a concurrent write in between is refused rather
// than overwritten.
func (d db) updateVariable(ctx context.Context, v Variable, sealed []byte, oldVersion string) (sql.Result, error) {
	return d.Exec(ctx, `UPDATE workspace_variables SET key = ?, category = ?, description = ?, hcl = ?, sensitive = ?, value = ?,
		version_id = ?, written_by_kind = ?, written_by_id = ?, written_by_name = ?, written_by_workspace_id = ?, written_at = ?,
		managing_workspace_id = ? WHERE id = ? AND version_id = ?`,
		v.Key, v.Category, v.Description, resource.B2I(v.HCL), resource.B2I(v.Sensitive), sealed,
		v.VersionID, string(v.WrittenBy.Kind), v.WrittenBy.ID, v.WrittenBy.Name, v.WrittenBy.WorkspaceID, store.Nanos(v.WrittenAt),
		nullable(v.ManagingWorkspaceID), v.ID, oldVersion)
}

func (d db) deleteVariable(ctx context.Context, id string) (sql.Result, error) {
	return d.Exec(ctx, `DELETE FROM workspace_variables WHERE id = ?`, id)
}

func (d db) insertSetVariable(ctx context.Context, setID string, v Variable, sealed []byte) error {
	_, err := d.Exec(ctx, `INSERT INTO varset_variables (id, varset_id, key, category, description, hcl, sensitive, value,
		version_id, written_by_kind, written_by_id, written_by_name, written_by_workspace_id, written_at, managing_workspace_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
		v.ID, setID, v.Key, v.Category, v.Description, resource.B2I(v.HCL), resource.B2I(v.Sensitive), sealed,
		v.VersionID, string(v.WrittenBy.Kind), v.WrittenBy.ID, v.WrittenBy.Name, v.WrittenBy.WorkspaceID, store.Nanos(v.WrittenAt),
		store.Nanos(v.CreatedAt))
	return err
}

func (d db) setVariable(ctx context.Context, setID, id string) (storedVariable, error) {
	return scanVariable(d.QueryRow(ctx, `SELECT `+setVariableColumns+` FROM varset_variables WHERE id = ? AND varset_id = ?`, id, setID))
}

func (d db) setVariablesOf(ctx context.Context, setID string) ([]storedVariable, error) {
	rows, err := d.Query(ctx, `SELECT `+setVariableColumns+` FROM varset_variables WHERE varset_id = ? ORDER BY category, key`, setID)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scanVariable)
}

// updateSetVariable is updateVariable's twin for set variables.
func (d db) updateSetVariable(ctx context.Context, v Variable, sealed []byte, oldVersion string) (sql.Result, error) {
	return d.Exec(ctx, `UPDATE varset_variables SET key = ?, category = ?, description = ?, hcl = ?, sensitive = ?, value = ?,
		version_id = ?, written_by_kind = ?, written_by_id = ?, written_by_name = ?, written_by_workspace_id = ?, written_at = ?
		WHERE id = ? AND version_id = ?`,
		v.Key, v.Category, v.Description, resource.B2I(v.HCL), resource.B2I(v.Sensitive), sealed,
		v.VersionID, string(v.WrittenBy.Kind), v.WrittenBy.ID, v.WrittenBy.Name, v.WrittenBy.WorkspaceID, store.Nanos(v.WrittenAt),
		v.ID, oldVersion)
}

func (d db) deleteSetVariable(ctx context.Context, id string) (sql.Result, error) {
	return d.Exec(ctx, `DELETE FROM varset_variables WHERE id = ?`, id)
}

// Variable sets.

const varsetColumns = `s.id, o.name, s.name, s.description, s.is_global, s.created_at, s.updated_at`

const varsetFrom = ` FROM varsets s JOIN organizations o ON o.id = s.org_id `

func scanVarset(row interface{ Scan(...any) error }) (Set, error) {
	var v Set
	var global, created, updated int64
	if err := row.Scan(&v.ID, &v.Organization, &v.Name, &v.Description, &global, &created, &updated); err != nil {
		return Set{}, err
	}
	v.Global, v.CreatedAt, v.UpdatedAt = global != 0, store.Time(created), store.Time(updated)
	return v, nil
}

func (d db) setRelations(ctx context.Context, v *Set) error {
	for _, r := range []struct {
		dst *[]string
		q   string
	}{
		{&v.Workspaces, `SELECT workspace_id FROM varset_workspaces WHERE varset_id = ? ORDER BY workspace_id`},
		{&v.Projects, `SELECT project_id FROM varset_projects WHERE varset_id = ? ORDER BY project_id`},
		{&v.Variables, `SELECT id FROM varset_variables WHERE varset_id = ? ORDER BY category, key`},
	} {
		rows, err := d.Query(ctx, r.q, v.ID)
		if err != nil {
			return err
		}
		if *r.dst, err = store.Strings(rows); err != nil {
			return err
		}
	}
	return nil
}

// set looks set id up, with its relations.
func (d db) set(ctx context.Context, id string) (Set, error) {
	v, err := scanVarset(d.QueryRow(ctx, `SELECT `+varsetColumns+varsetFrom+`WHERE s.id = ?`, id))
	if err != nil {
		return Set{}, resource.NotFound(err, "variable set %q not found", id)
	}
	return v, d.setRelations(ctx, &v)
}

// scopeOf ranks how a set applies to a workspace (args: workspace id,
// project id): 3 applied to it, 2 to its project, 1 global, 0 not at all.
const scopeOf = `CASE WHEN EXISTS (SELECT 1 FROM varset_workspaces x WHERE x.varset_id = s.id AND x.workspace_id = ?) THEN 3
	WHEN EXISTS (SELECT 1 FROM varset_projects x WHERE x.varset_id = s.id AND x.project_id = ?) THEN 2
	WHEN s.is_global = 1 THEN 1 ELSE 0 END`

func (d db) sets(ctx context.Context, where string, args []any, f SetFilter) ([]Set, int, error) {
	if f.Search != "" {
		where, args = where+` AND s.name LIKE ? ESCAPE '\'`, append(args, resource.LikeContains(f.Search))
	}
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*)`+varsetFrom+`WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := d.Query(ctx, `SELECT `+varsetColumns+varsetFrom+`WHERE `+where+` ORDER BY s.name LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanVarset)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		if err := d.setRelations(ctx, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

func (d db) insertSet(ctx context.Context, orgID string, v Set) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO varsets (id, org_id, name, description, is_global, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, v.ID, orgID, v.Name, v.Description, resource.B2I(v.Global), store.Nanos(v.CreatedAt), store.Nanos(v.UpdatedAt)); err != nil {
			return resource.Conflict(err, "variable set %q already exists in organization %q", v.Name, v.Organization)
		}
		return attach(ctx, tx, "varset_workspaces", "workspace_id", v.ID, v.Workspaces)
	})
}

// updateSet writes v and moves it from workspaces removed to added.
func (d db) updateSet(ctx context.Context, v Set, added, removed []string) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE varsets SET name = ?, description = ?, is_global = ?, updated_at = ? WHERE id = ?`,
			v.Name, v.Description, resource.B2I(v.Global), store.Nanos(v.UpdatedAt), v.ID)
		if err := resource.Affected(res, resource.Conflict(err, "variable set %q already exists in organization %q", v.Name, v.Organization), "variable set %q not found", v.ID); err != nil {
			return err
		}
		if err := detach(ctx, tx, "varset_workspaces", "workspace_id", v.ID, removed); err != nil {
			return err
		}
		return attach(ctx, tx, "varset_workspaces", "workspace_id", v.ID, added)
	})
}

func (d db) deleteSet(ctx context.Context, id string) (sql.Result, error) {
	return d.Exec(ctx, `DELETE FROM varsets WHERE id = ?`, id)
}

// applySet applies set to ids in table (varset_workspaces or
// varset_projects), or with apply false removes it from them.
func (d db) applySet(ctx context.Context, table, column, set string, ids []string, apply bool) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if apply {
			return attach(ctx, tx, table, column, set, ids)
		}
		return detach(ctx, tx, table, column, set, ids)
	})
}

// attach applies set to ids in table (varset_workspaces or varset_projects).
func attach(ctx context.Context, tx *store.Tx, table, column, set string, ids []string) error {
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (varset_id, `+column+`) VALUES (?, ?) ON CONFLICT DO NOTHING`, set, id); err != nil {
			return err
		}
	}
	return nil
}

func detach(ctx context.Context, tx *store.Tx, table, column, set string, ids []string) error {
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE varset_id = ? AND `+column+` = ?`, set, id); err != nil {
			return err
		}
	}
	return nil
}

// applied is how a variable set applies to a workspace.
type applied struct {
	id, name string
	scope    int
}

// applied ranks every set of w's organization for w (see scopeOf).
func (d db) applied(ctx context.Context, w workspace.Workspace) ([]applied, error) {
	rows, err := d.Query(ctx, `SELECT s.id, s.name, `+scopeOf+varsetFrom+`WHERE o.name = ?`, w.ID, w.ProjectID, w.Organization)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(row interface{ Scan(...any) error }) (applied, error) {
		var a applied
		return a, row.Scan(&a.id, &a.name, &a.scope)
	})
}

// allVariables returns every workspace variable of the installation.
func (d db) allVariables(ctx context.Context) ([]storedVariable, error) {
	rows, err := d.Query(ctx, `SELECT `+variableColumns+` FROM workspace_variables ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scanVariable)
}

// rewriteValue replaces a variable's value and version and nothing else,
// if its version is still oldVersion.
func (d db) rewriteValue(ctx context.Context, id string, sealed []byte, version, oldVersion string) (sql.Result, error) {
	return d.Exec(ctx, `UPDATE workspace_variables SET value = ?, version_id = ? WHERE id = ? AND version_id = ?`,
		sealed, version, id, oldVersion)
}
