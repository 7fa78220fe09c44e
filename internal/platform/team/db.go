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

const teamColumns = `t.id, o.name, t.name, t.visibility, t.allow_member_token_management, t.is_owners, t.organization_access, t.created_at`

const teamFrom = ` FROM teams t JOIN organizations o ON o.id = t.org_id `

func scanTeam(row interface{ Scan(...any) error }) (Team, error) {
	var t Team
	var created, members, owners int64
	var orgAccess string
	if err := row.Scan(&t.ID, &t.Organization, &t.Name, &t.Visibility, &members, &owners, &orgAccess, &created); err != nil {
		return Team{}, err
	}
	t.CreatedAt, t.AllowMemberTokenManagement, t.Owners = store.Time(created), members == 1, owners == 1
	if orgAccess != "" {
		t.OrganizationAccess = strings.Split(orgAccess, ",")
	}
	return t, nil
}

func (d db) insert(ctx context.Context, orgID string, t Team) error {
	_, err := d.Exec(ctx, `INSERT INTO teams (id, org_id, name, visibility, allow_member_token_management, organization_access, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, orgID, t.Name, t.Visibility, resource.B2I(t.AllowMemberTokenManagement), strings.Join(t.OrganizationAccess, ","), store.Nanos(t.CreatedAt))
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
		in, names := store.In("t.name", f.Names)
		where, args = where+` AND `+in, append(args, names...)
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
	res, err := d.Exec(ctx, `UPDATE teams SET name = ?, visibility = ?, allow_member_token_management = ?, organization_access = ? WHERE id = ?`,
		t.Name, t.Visibility, resource.B2I(t.AllowMemberTokenManagement), strings.Join(t.OrganizationAccess, ","), t.ID)
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

// teamsOf lists every team of org with the hash of its compiled policy.
func (d db) teamsOf(ctx context.Context, org string) ([]Team, []string, error) {
	rows, err := d.Query(ctx, `SELECT `+teamColumns+`, t.policy_hash`+teamFrom+`WHERE o.name = ? ORDER BY t.id`, org)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ts []Team
	var hashes []string
	for rows.Next() {
		var h string
		t, err := scanTeam(scanExtra{rows, &h})
		if err != nil {
			return nil, nil, err
		}
		ts, hashes = append(ts, t), append(hashes, h)
	}
	return ts, hashes, rows.Err()
}

// scanExtra scans one more column after a team's.
type scanExtra struct {
	row   interface{ Scan(...any) error }
	extra any
}

func (s scanExtra) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra)...) }

// organizationsWithTeams lists the names of organizations that have teams.
func (d db) organizationsWithTeams(ctx context.Context) ([]string, error) {
	rows, err := d.Query(ctx, `SELECT DISTINCT o.name`+teamFrom+`ORDER BY o.name`)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
}

func (d db) setPolicyHash(ctx context.Context, id, hash string) error {
	_, err := d.Exec(ctx, `UPDATE teams SET policy_hash = ? WHERE id = ?`, hash, id)
	return err
}

// orgGrants reads what the policies of org's teams are compiled from:
// its workspaces, its projects and every grant in it.
func (d db) orgGrants(ctx context.Context, org string) (ws []orgWorkspace, projects map[string]string, wsa []WorkspaceAccess, pa []ProjectAccess, err error) {
	rows, err := d.Query(ctx, `SELECT w.id, w.name, w.project_id FROM workspaces w JOIN organizations o ON o.id = w.org_id WHERE o.name = ?`, org)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if ws, err = resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (orgWorkspace, error) {
		var w orgWorkspace
		return w, r.Scan(&w.ID, &w.Name, &w.ProjectID)
	}); err != nil {
		return nil, nil, nil, nil, err
	}
	rows, err = d.Query(ctx, `SELECT p.id, p.name FROM projects p JOIN organizations o ON o.id = p.org_id WHERE o.name = ?`, org)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	type idName struct{ id, name string }
	ps, err := resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (idName, error) {
		var p idName
		return p, r.Scan(&p.id, &p.name)
	})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	projects = map[string]string{}
	for _, p := range ps {
		projects[p.id] = p.name
	}
	rows, err = d.Query(ctx, `SELECT `+wsAccessColumns+wsAccessFrom+`WHERE o.name = ?`, org)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if wsa, err = resource.ScanAll(rows, scanWorkspaceAccess); err != nil {
		return nil, nil, nil, nil, err
	}
	rows, err = d.Query(ctx, `SELECT `+prjAccessColumns+prjAccessFrom+`WHERE o.name = ?`, org)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	pa, err = resource.ScanAll(rows, scanProjectAccess)
	return ws, projects, wsa, pa, err
}

const wsAccessColumns = `a.id, a.team_id, a.workspace_id, a.access, a.runs, a.variables, a.state_versions, a.sentinel_mocks,
	a.workspace_locking, a.run_tasks, a.policy_overrides, a.created_at`

const wsAccessFrom = ` FROM team_workspace_access a JOIN teams t ON t.id = a.team_id JOIN organizations o ON o.id = t.org_id `

func scanWorkspaceAccess(row interface{ Scan(...any) error }) (WorkspaceAccess, error) {
	var a WorkspaceAccess
	var lock, tasks, overrides, created int64
	if err := row.Scan(&a.ID, &a.TeamID, &a.WorkspaceID, &a.Access, &a.Runs, &a.Variables, &a.StateVersions, &a.SentinelMocks,
		&lock, &tasks, &overrides, &created); err != nil {
		return WorkspaceAccess{}, err
	}
	a.WorkspaceLocking, a.RunTasks, a.PolicyOverrides, a.CreatedAt = lock == 1, tasks == 1, overrides == 1, store.Time(created)
	if set, ok := workspaceSets[a.Access]; ok {
		a.Admin, a.Delete = set.Admin, set.Delete
	}
	return a, nil
}

func (d db) workspaceAccess(ctx context.Context, id string) (WorkspaceAccess, error) {
	if !resource.ValidID("tws", id) {
		return WorkspaceAccess{}, fail.NotFoundf("team workspace access %q not found", fail.Clip(id))
	}
	a, err := scanWorkspaceAccess(d.QueryRow(ctx, `SELECT `+wsAccessColumns+wsAccessFrom+`WHERE a.id = ?`, id))
	return a, resource.NotFound(err, "team workspace access %q not found", id)
}

func (d db) workspaceAccesses(ctx context.Context, wsID string, pg resource.Page) ([]WorkspaceAccess, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM team_workspace_access WHERE workspace_id = ?`, wsID).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	rows, err := d.Query(ctx, `SELECT `+wsAccessColumns+wsAccessFrom+`WHERE a.workspace_id = ? ORDER BY a.created_at, a.id LIMIT ? OFFSET ?`, wsID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanWorkspaceAccess)
	return out, total, err
}

func (d db) insertWorkspaceAccess(ctx context.Context, a WorkspaceAccess) error {
	_, err := d.Exec(ctx, `INSERT INTO team_workspace_access (id, team_id, workspace_id, access, runs, variables, state_versions, sentinel_mocks,
	workspace_locking, run_tasks, policy_overrides, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TeamID, a.WorkspaceID, a.Access, a.Runs, a.Variables, a.StateVersions, a.SentinelMocks,
		resource.B2I(a.WorkspaceLocking), resource.B2I(a.RunTasks), resource.B2I(a.PolicyOverrides), store.Nanos(a.CreatedAt))
	return resource.Conflict(err, "team %q already has access to workspace %q", a.TeamID, a.WorkspaceID)
}

func (d db) updateWorkspaceAccess(ctx context.Context, a WorkspaceAccess) error {
	res, err := d.Exec(ctx, `UPDATE team_workspace_access SET access = ?, runs = ?, variables = ?, state_versions = ?, sentinel_mocks = ?,
	workspace_locking = ?, run_tasks = ?, policy_overrides = ? WHERE id = ?`,
		a.Access, a.Runs, a.Variables, a.StateVersions, a.SentinelMocks,
		resource.B2I(a.WorkspaceLocking), resource.B2I(a.RunTasks), resource.B2I(a.PolicyOverrides), a.ID)
	return resource.Affected(res, err, "team workspace access %q not found", a.ID)
}

func (d db) deleteWorkspaceAccess(ctx context.Context, id string) error {
	res, err := d.Exec(ctx, `DELETE FROM team_workspace_access WHERE id = ?`, id)
	return resource.Affected(res, err, "team workspace access %q not found", id)
}

const prjAccessColumns = `a.id, a.team_id, a.project_id, a.access, a.settings, a.teams, a.variable_sets, a.ws_runs, a.ws_variables,
	a.ws_state_versions, a.ws_sentinel_mocks, a.ws_create, a.ws_locking, a.ws_move, a.ws_delete, a.ws_run_tasks, a.ws_policy_overrides, a.created_at`

const prjAccessFrom = ` FROM team_project_access a JOIN teams t ON t.id = a.team_id JOIN organizations o ON o.id = t.org_id `

func scanProjectAccess(row interface{ Scan(...any) error }) (ProjectAccess, error) {
	var a ProjectAccess
	var create, lock, move, del, tasks, overrides, created int64
	w := &a.Workspace
	if err := row.Scan(&a.ID, &a.TeamID, &a.ProjectID, &a.Access, &a.Project.Settings, &a.Project.Teams, &a.Project.VariableSets,
		&w.Runs, &w.Variables, &w.StateVersions, &w.SentinelMocks, &create, &lock, &move, &del, &tasks, &overrides, &created); err != nil {
		return ProjectAccess{}, err
	}
	w.Create, w.WorkspaceLocking, w.Move, w.Delete, w.RunTasks, w.PolicyOverrides = create == 1, lock == 1, move == 1, del == 1, tasks == 1, overrides == 1
	a.CreatedAt = store.Time(created)
	if set, ok := projectSets[a.Access]; ok {
		w.Admin = set.w.Admin
	}
	return a, nil
}

func (d db) projectAccess(ctx context.Context, id string) (ProjectAccess, error) {
	if !resource.ValidID("tprj", id) {
		return ProjectAccess{}, fail.NotFoundf("team project access %q not found", fail.Clip(id))
	}
	a, err := scanProjectAccess(d.QueryRow(ctx, `SELECT `+prjAccessColumns+prjAccessFrom+`WHERE a.id = ?`, id))
	return a, resource.NotFound(err, "team project access %q not found", id)
}

func (d db) projectAccesses(ctx context.Context, projectID string, pg resource.Page) ([]ProjectAccess, int, error) {
	var total int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM team_project_access WHERE project_id = ?`, projectID).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	rows, err := d.Query(ctx, `SELECT `+prjAccessColumns+prjAccessFrom+`WHERE a.project_id = ? ORDER BY a.created_at, a.id LIMIT ? OFFSET ?`, projectID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanProjectAccess)
	return out, total, err
}

func (d db) insertProjectAccess(ctx context.Context, a ProjectAccess) error {
	w := a.Workspace
	_, err := d.Exec(ctx, `INSERT INTO team_project_access (id, team_id, project_id, access, settings, teams, variable_sets, ws_runs, ws_variables,
	ws_state_versions, ws_sentinel_mocks, ws_create, ws_locking, ws_move, ws_delete, ws_run_tasks, ws_policy_overrides, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TeamID, a.ProjectID, a.Access, a.Project.Settings, a.Project.Teams, a.Project.VariableSets, w.Runs, w.Variables,
		w.StateVersions, w.SentinelMocks, resource.B2I(w.Create), resource.B2I(w.WorkspaceLocking), resource.B2I(w.Move),
		resource.B2I(w.Delete), resource.B2I(w.RunTasks), resource.B2I(w.PolicyOverrides), store.Nanos(a.CreatedAt))
	return resource.Conflict(err, "team %q already has access to project %q", a.TeamID, a.ProjectID)
}

func (d db) updateProjectAccess(ctx context.Context, a ProjectAccess) error {
	w := a.Workspace
	res, err := d.Exec(ctx, `UPDATE team_project_access SET access = ?, settings = ?, teams = ?, variable_sets = ?, ws_runs = ?, ws_variables = ?,
	ws_state_versions = ?, ws_sentinel_mocks = ?, ws_create = ?, ws_locking = ?, ws_move = ?, ws_delete = ?, ws_run_tasks = ?, ws_policy_overrides = ?
	WHERE id = ?`,
		a.Access, a.Project.Settings, a.Project.Teams, a.Project.VariableSets, w.Runs, w.Variables, w.StateVersions, w.SentinelMocks,
		resource.B2I(w.Create), resource.B2I(w.WorkspaceLocking), resource.B2I(w.Move), resource.B2I(w.Delete),
		resource.B2I(w.RunTasks), resource.B2I(w.PolicyOverrides), a.ID)
	return resource.Affected(res, err, "team project access %q not found", a.ID)
}

func (d db) deleteProjectAccess(ctx context.Context, id string) error {
	res, err := d.Exec(ctx, `DELETE FROM team_project_access WHERE id = ?`, id)
	return resource.Affected(res, err, "team project access %q not found", id)
}
