package workspace

import (
	"context"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// nameTaken is the conflict of a name already used, in any case: names
// are unique ignoring case, as in HCP Terraform.
const nameTaken = "workspace %q already exists in organization %q (names are unique ignoring case)"

// db is all of the domain's SQL.
type db struct{ *store.DB }

const columns = `w.id, o.name, w.project_id, w.name, w.description, w.auto_apply, w.execution_mode,
	w.working_directory, w.terraform_version, w.agent_pool_id, w.created_at, w.updated_at, w.locked_by, w.lock_reason, w.phase_timeout, w.global_remote_state`

const from = ` FROM workspaces w JOIN organizations o ON o.id = w.org_id `

func scan(row interface{ Scan(...any) error }) (Workspace, error) {
	var w Workspace
	var auto, created, updated, timeout, global int64
	err := row.Scan(&w.ID, &w.Organization, &w.ProjectID, &w.Name, &w.Description, &auto, &w.ExecutionMode,
		&w.WorkingDirectory, &w.TerraformVersion, &w.AgentPoolID, &created, &updated, &w.LockedBy, &w.LockReason, &timeout, &global)
	if err != nil {
		return Workspace{}, err
	}
	w.PhaseTimeout, w.GlobalRemoteState = time.Duration(timeout)*time.Second, global != 0
	w.AutoApply, w.CreatedAt, w.UpdatedAt = auto != 0, store.Time(created), store.Time(updated)
	return w, nil
}

func (d db) insert(ctx context.Context, orgID string, w Workspace) error {
	now := store.Nanos(w.CreatedAt)
	_, err := d.Exec(ctx, `INSERT INTO workspaces (id, org_id, project_id, name, description, auto_apply, execution_mode,
		working_directory, terraform_version, agent_pool_id, created_at, updated_at, phase_timeout, global_remote_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, orgID, w.ProjectID, w.Name, w.Description, resource.B2I(w.AutoApply), w.ExecutionMode,
		w.WorkingDirectory, w.TerraformVersion, w.AgentPoolID, now, now, int64(w.PhaseTimeout/time.Second), resource.B2I(w.GlobalRemoteState))
	return resource.Conflict(err, nameTaken, w.Name, w.Organization)
}

func (d db) byName(ctx context.Context, org, name string) (Workspace, error) {
	w, err := scan(d.QueryRow(ctx, `SELECT `+columns+from+`WHERE o.name = ? AND w.name = ?`, org, name))
	return w, resource.NotFound(err, "workspace %q not found in organization %q", name, org)
}

func (d db) byID(ctx context.Context, id string) (Workspace, error) {
	if !resource.ValidID("ws", id) {
		return Workspace{}, fail.NotFoundf("workspace %q not found", fail.Clip(id))
	}
	w, err := scan(d.QueryRow(ctx, `SELECT `+columns+from+`WHERE w.id = ?`, id))
	return w, resource.NotFound(err, "workspace %q not found", id)
}

func (d db) list(ctx context.Context, org string, f Filter) ([]Workspace, int, error) {
	where, args := `WHERE o.name = ?`, []any{org}
	if f.Search != "" {
		where, args = where+` AND w.name LIKE ? ESCAPE '\'`, append(args, resource.LikeContains(f.Search))
	}
	if f.ProjectID != "" {
		where, args = where+` AND w.project_id = ?`, append(args, f.ProjectID)
	}
	if f.only != nil {
		if len(f.only) == 0 {
			return nil, 0, nil
		}
		in, ids := store.In("w.id", f.only)
		where, args = where+` AND `+in, append(args, ids...)
	}
	for _, t := range f.Tags {
		where, args = where+` AND EXISTS (SELECT 1 FROM workspace_tag_bindings t WHERE t.workspace_id = w.id AND t.key = ? AND t.value = '')`, append(args, t)
	}
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*)`+from+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := d.Query(ctx, `SELECT `+columns+from+where+` ORDER BY w.name LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scan)
	return out, total, err
}

func (d db) update(ctx context.Context, w Workspace) error {
	res, err := d.Exec(ctx, `UPDATE workspaces SET project_id = ?, name = ?, description = ?, auto_apply = ?, execution_mode = ?,
		working_directory = ?, terraform_version = ?, agent_pool_id = ?, updated_at = ?, phase_timeout = ?, global_remote_state = ? WHERE id = ?`,
		w.ProjectID, w.Name, w.Description, resource.B2I(w.AutoApply), w.ExecutionMode,
		w.WorkingDirectory, w.TerraformVersion, w.AgentPoolID, store.Nanos(w.UpdatedAt), int64(w.PhaseTimeout/time.Second),
		resource.B2I(w.GlobalRemoteState), w.ID)
	return resource.Affected(res, resource.Conflict(err, nameTaken, w.Name, w.Organization), "workspace %q not found", w.ID)
}

func (d db) delete(ctx context.Context, id string) error {
	res, err := d.Exec(ctx, `DELETE FROM workspaces WHERE id = ?`, id)
	return resource.Affected(res, err, "workspace %q not found", id)
}

// names lists the id and name of every workspace of org.
func (d db) names(ctx context.Context, org string) ([][2]string, error) {
	rows, err := d.Query(ctx, `SELECT w.id, w.name`+from+`WHERE o.name = ?`, org)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(r interface{ Scan(...any) error }) ([2]string, error) {
		var n [2]string
		return n, r.Scan(&n[0], &n[1])
	})
}

func (d db) grants(ctx context.Context, wsID string) ([]Grant, error) {
	rows, err := d.Query(ctx, `SELECT COALESCE(target_project_id, ''), COALESCE(target_workspace_id, ''), permission
		FROM workspace_run_token_grants WHERE workspace_id = ? ORDER BY created_at, target_project_id, target_workspace_id`, wsID)
	if err != nil {
		return nil, err
	}
	out, err := resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (Grant, error) {
		var g Grant
		err := r.Scan(&g.ProjectID, &g.WorkspaceID, &g.Permission)
		return g, err
	})
	if out == nil {
		out = []Grant{}
	}
	return out, err
}

func (d db) setGrants(ctx context.Context, wsID string, gs []Grant, now time.Time) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM workspace_run_token_grants WHERE workspace_id = ?`, wsID); err != nil {
			return err
		}
		for _, g := range gs {
			if _, err := tx.Exec(ctx, `INSERT INTO workspace_run_token_grants (workspace_id, target_project_id, target_workspace_id, permission, created_at)
				VALUES (?, ?, ?, ?, ?)`, wsID, nullable(g.ProjectID), nullable(g.WorkspaceID), g.Permission, store.Nanos(now)); err != nil {
				return err
			}
		}
		return nil
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// runTokenScope reads what workspace wsID's run tokens reach (see
// RunTokenScope), each list sorted by name.
func (d db) runTokenScope(ctx context.Context, wsID string) (RunTokenScope, error) {
	names := func(q string, args ...any) ([]string, error) {
		rows, err := d.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (string, error) {
			var s string
			err := r.Scan(&s)
			return s, err
		})
	}
	var sc RunTokenScope
	var err error
	if sc.SharedFrom, err = names(`SELECT w.name FROM workspaces w JOIN workspaces me ON me.id = ? AND me.org_id = w.org_id
		WHERE w.id <> me.id AND (w.global_remote_state = 1
			OR EXISTS (SELECT 1 FROM workspace_remote_state_consumers c WHERE c.workspace_id = w.id AND c.consumer_id = me.id))
		ORDER BY w.name`, wsID); err != nil {
		return RunTokenScope{}, err
	}
	if sc.Managed, err = names(`SELECT w.name FROM workspaces w JOIN workspace_run_token_grants g ON g.workspace_id = ?
		AND (g.target_workspace_id = w.id OR g.target_project_id = w.project_id)
		GROUP BY w.name ORDER BY w.name`, wsID); err != nil {
		return RunTokenScope{}, err
	}
	if sc.Projects, err = names(`SELECT p.name FROM projects p JOIN workspace_run_token_grants g ON g.workspace_id = ? AND g.target_project_id = p.id
		GROUP BY p.name ORDER BY p.name`, wsID); err != nil {
		return RunTokenScope{}, err
	}
	return sc, nil
}

func (d db) consumers(ctx context.Context, wsID string, pg resource.Page) ([]Workspace, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM workspace_remote_state_consumers WHERE workspace_id = ?`, wsID).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	rows, err := d.Query(ctx, `SELECT `+columns+from+`JOIN workspace_remote_state_consumers c ON c.consumer_id = w.id
		WHERE c.workspace_id = ? ORDER BY w.name LIMIT ? OFFSET ?`, wsID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scan)
	return out, total, err
}

// changeConsumers adds, removes or (replace) sets workspace wsID's
// consumers.
func (d db) changeConsumers(ctx context.Context, wsID string, ids []string, op ConsumerChange) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		if op == ConsumersReplace {
			if _, err := tx.Exec(ctx, `DELETE FROM workspace_remote_state_consumers WHERE workspace_id = ?`, wsID); err != nil {
				return err
			}
		}
		for _, id := range ids {
			q := `INSERT INTO workspace_remote_state_consumers (workspace_id, consumer_id) VALUES (?, ?) ON CONFLICT DO NOTHING`
			if op == ConsumersRemove {
				q = `DELETE FROM workspace_remote_state_consumers WHERE workspace_id = ? AND consumer_id = ?`
			}
			if _, err := tx.Exec(ctx, q, wsID, id); err != nil {
				return err
			}
		}
		return nil
	})
}
