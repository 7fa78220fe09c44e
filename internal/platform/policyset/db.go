package policyset

import (
	"context"
	"database/sql"

	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/store"
)

// All of the package's SQL. Statements take conn, the database or a
// transaction, so the service decides what runs in one transaction.

type conn interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRow(ctx context.Context, q string, args ...any) *store.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

const policyColumns = `p.id, o.name, p.name, p.description, p.query, p.enforcement_level, p.source, p.created_at, p.updated_at,
	(SELECT COUNT(*) FROM policy_set_policies m WHERE m.policy_id = p.id)`

func scanPolicy(row interface{ Scan(...any) error }) (Policy, error) {
	var p Policy
	var level string
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Organization, &p.Name, &p.Description, &p.Query, &level, &p.Source, &created, &updated, &p.SetCount); err != nil {
		return Policy{}, err
	}
	p.Level, p.CreatedAt, p.UpdatedAt = policy.Level(level), store.Time(created), store.Time(updated)
	return p, nil
}

func readPolicy(ctx context.Context, c conn, id string) (Policy, error) {
	return scanPolicy(c.QueryRow(ctx, `SELECT `+policyColumns+` FROM policies p JOIN organizations o ON o.id = p.org_id WHERE p.id = ?`, id))
}

func listPolicies(ctx context.Context, c conn, org, search string, pg resource.Page) ([]Policy, int, error) {
	like := resource.LikeContains(search)
	var total int
	if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM policies p JOIN organizations o ON o.id = p.org_id
		WHERE o.name = ? AND p.name LIKE ? ESCAPE '\'`, org, like).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := c.Query(ctx, `SELECT `+policyColumns+` FROM policies p JOIN organizations o ON o.id = p.org_id
		WHERE o.name = ? AND p.name LIKE ? ESCAPE '\' ORDER BY p.name LIMIT ? OFFSET ?`, org, like, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanPolicy)
	return out, total, err
}

func insertPolicy(ctx context.Context, c conn, orgID string, p Policy) error {
	_, err := c.Exec(ctx, `INSERT INTO policies (id, org_id, name, description, query, enforcement_level, source, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, orgID, p.Name, p.Description, p.Query, string(p.Level), p.Source,
		store.Nanos(p.CreatedAt), store.Nanos(p.UpdatedAt))
	return err
}

func updatePolicy(ctx context.Context, c conn, p Policy) error {
	_, err := c.Exec(ctx, `UPDATE policies SET name = ?, description = ?, query = ?, enforcement_level = ?, source = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Description, p.Query, string(p.Level), p.Source, store.Nanos(p.UpdatedAt), p.ID)
	return err
}

func deletePolicy(ctx context.Context, c conn, id string) error {
	_, err := c.Exec(ctx, `DELETE FROM policies WHERE id = ?`, id)
	return err
}

// bumpSetsOf gives every set holding policy id a new revision.
func bumpSetsOf(ctx context.Context, c conn, policyID string, now int64) error {
	_, err := c.Exec(ctx, `UPDATE policy_sets SET revision = revision + 1, updated_at = ?
		WHERE id IN (SELECT set_id FROM policy_set_policies WHERE policy_id = ?)`, now, policyID)
	return err
}

func bumpSet(ctx context.Context, c conn, id string, now int64) error {
	_, err := c.Exec(ctx, `UPDATE policy_sets SET revision = revision + 1, updated_at = ? WHERE id = ?`, now, id)
	return err
}

const setColumns = `s.id, o.name, s.name, s.description, s.overridable, s.global, s.revision, s.current_version_id, s.created_at, s.updated_at`

func scanSet(row interface{ Scan(...any) error }) (Set, error) {
	var s Set
	var over, global, created, updated int64
	if err := row.Scan(&s.ID, &s.Organization, &s.Name, &s.Description, &over, &global, &s.Revision, &s.CurrentVersionID, &created, &updated); err != nil {
		return Set{}, err
	}
	s.Overridable, s.Global, s.CreatedAt, s.UpdatedAt = over != 0, global != 0, store.Time(created), store.Time(updated)
	return s, nil
}

// members fills s's policies and scope.
func members(ctx context.Context, c conn, s *Set) error {
	rows, err := c.Query(ctx, `SELECT policy_id FROM policy_set_policies WHERE set_id = ? ORDER BY policy_id`, s.ID)
	if err != nil {
		return err
	}
	if s.PolicyIDs, err = store.Strings(rows); err != nil {
		return err
	}
	rows, err = c.Query(ctx, `SELECT kind, target_id FROM policy_set_scopes WHERE set_id = ? ORDER BY kind, target_id`, s.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	s.Scope = map[string][]string{}
	for rows.Next() {
		var kind, id string
		if err := rows.Scan(&kind, &id); err != nil {
			return err
		}
		s.Scope[kind] = append(s.Scope[kind], id)
	}
	return rows.Err()
}

func readSet(ctx context.Context, c conn, id string) (Set, error) {
	s, err := scanSet(c.QueryRow(ctx, `SELECT `+setColumns+` FROM policy_sets s JOIN organizations o ON o.id = s.org_id WHERE s.id = ?`, id))
	if err != nil {
		return Set{}, err
	}
	return s, members(ctx, c, &s)
}

func listSets(ctx context.Context, c conn, org, search string, pg resource.Page) ([]Set, int, error) {
	like := resource.LikeContains(search)
	var total int
	if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM policy_sets s JOIN organizations o ON o.id = s.org_id
		WHERE o.name = ? AND s.name LIKE ? ESCAPE '\'`, org, like).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := c.Query(ctx, `SELECT `+setColumns+` FROM policy_sets s JOIN organizations o ON o.id = s.org_id
		WHERE o.name = ? AND s.name LIKE ? ESCAPE '\' ORDER BY s.name LIMIT ? OFFSET ?`, org, like, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanSet)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		if err := members(ctx, c, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// setsOfOrg lists every set of organization orgID, with members.
func setsOfOrg(ctx context.Context, c conn, orgID string) ([]Set, error) {
	rows, err := c.Query(ctx, `SELECT `+setColumns+` FROM policy_sets s JOIN organizations o ON o.id = s.org_id
		WHERE s.org_id = ? ORDER BY s.name`, orgID)
	if err != nil {
		return nil, err
	}
	out, err := resource.ScanAll(rows, scanSet)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := members(ctx, c, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func insertSet(ctx context.Context, c conn, orgID string, s Set) error {
	_, err := c.Exec(ctx, `INSERT INTO policy_sets (id, org_id, name, description, overridable, global, revision, files, current_version_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, ?)`, s.ID, orgID, s.Name, s.Description, resource.B2I(s.Overridable), resource.B2I(s.Global),
		s.Revision, store.Nanos(s.CreatedAt), store.Nanos(s.UpdatedAt))
	return err
}

func updateSet(ctx context.Context, c conn, s Set) error {
	_, err := c.Exec(ctx, `UPDATE policy_sets SET name = ?, description = ?, overridable = ?, global = ?, revision = revision + 1, updated_at = ? WHERE id = ?`,
		s.Name, s.Description, resource.B2I(s.Overridable), resource.B2I(s.Global), store.Nanos(s.UpdatedAt), s.ID)
	return err
}

func deleteSet(ctx context.Context, c conn, id string) error {
	_, err := c.Exec(ctx, `DELETE FROM policy_sets WHERE id = ?`, id)
	return err
}

func addMember(ctx context.Context, c conn, setID, policyID string) error {
	_, err := c.Exec(ctx, `INSERT INTO policy_set_policies (set_id, policy_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, setID, policyID)
	return err
}

func removeMember(ctx context.Context, c conn, setID, policyID string) error {
	_, err := c.Exec(ctx, `DELETE FROM policy_set_policies WHERE set_id = ? AND policy_id = ?`, setID, policyID)
	return err
}

func addScope(ctx context.Context, c conn, setID, kind, id string) error {
	_, err := c.Exec(ctx, `INSERT INTO policy_set_scopes (set_id, kind, target_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, setID, kind, id)
	return err
}

func removeScope(ctx context.Context, c conn, setID, kind, id string) error {
	_, err := c.Exec(ctx, `DELETE FROM policy_set_scopes WHERE set_id = ? AND kind = ? AND target_id = ?`, setID, kind, id)
	return err
}

func setFiles(ctx context.Context, c conn, id string) ([]byte, error) {
	var b []byte
	err := c.QueryRow(ctx, `SELECT files FROM policy_sets WHERE id = ?`, id).Scan(&b)
	return b, err
}

func storeFiles(ctx context.Context, c conn, id, versionID string, files []byte, now int64) error {
	_, err := c.Exec(ctx, `UPDATE policy_sets SET files = ?, current_version_id = ?, revision = revision + 1, updated_at = ? WHERE id = ?`,
		files, versionID, now, id)
	return err
}

func scanParam(row interface{ Scan(...any) error }) (paramRow, error) {
	var p paramRow
	var sensitive int64
	if err := row.Scan(&p.ID, &p.SetID, &p.Key, &p.sealed, &sensitive); err != nil {
		return paramRow{}, err
	}
	p.Sensitive = sensitive != 0
	return p, nil
}

// paramRow is a parameter as stored: its value sealed.
type paramRow struct {
	Parameter
	sealed []byte
}

func params(ctx context.Context, c conn, setID string) ([]paramRow, error) {
	rows, err := c.Query(ctx, `SELECT id, set_id, key, value, sensitive FROM policy_set_params WHERE set_id = ? ORDER BY key`, setID)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scanParam)
}

func readParam(ctx context.Context, c conn, setID, id string) (paramRow, error) {
	return scanParam(c.QueryRow(ctx, `SELECT id, set_id, key, value, sensitive FROM policy_set_params WHERE set_id = ? AND id = ?`, setID, id))
}

func insertParam(ctx context.Context, c conn, p Parameter, sealed []byte) error {
	_, err := c.Exec(ctx, `INSERT INTO policy_set_params (id, set_id, key, value, sensitive) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.SetID, p.Key, sealed, resource.B2I(p.Sensitive))
	return err
}

func updateParam(ctx context.Context, c conn, p Parameter, sealed []byte) error {
	_, err := c.Exec(ctx, `UPDATE policy_set_params SET key = ?, value = ?, sensitive = ? WHERE id = ?`, p.Key, sealed, resource.B2I(p.Sensitive), p.ID)
	return err
}

func deleteParam(ctx context.Context, c conn, id string) error {
	_, err := c.Exec(ctx, `DELETE FROM policy_set_params WHERE id = ?`, id)
	return err
}

func scanVersion(row interface{ Scan(...any) error }) (Version, error) {
	var v Version
	var created, updated int64
	if err := row.Scan(&v.ID, &v.SetID, &v.Status, &v.Error, &created, &updated); err != nil {
		return Version{}, err
	}
	v.CreatedAt, v.UpdatedAt = store.Time(created), store.Time(updated)
	return v, nil
}

func readVersion(ctx context.Context, c conn, id string) (Version, error) {
	return scanVersion(c.QueryRow(ctx, `SELECT id, set_id, status, error, created_at, updated_at FROM policy_set_versions WHERE id = ?`, id))
}

func newestVersion(ctx context.Context, c conn, setID string) (Version, error) {
	return scanVersion(c.QueryRow(ctx, `SELECT id, set_id, status, error, created_at, updated_at FROM policy_set_versions
		WHERE set_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`, setID))
}

func insertVersion(ctx context.Context, c conn, v Version) error {
	_, err := c.Exec(ctx, `INSERT INTO policy_set_versions (id, set_id, status, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		v.ID, v.SetID, v.Status, v.Error, store.Nanos(v.CreatedAt), store.Nanos(v.UpdatedAt))
	return err
}

// finishVersion ends pending version id as status, once.
func finishVersion(ctx context.Context, c conn, id, status, msg string, now int64) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE policy_set_versions SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?`,
		status, msg, now, id, VersionPending)
}

// orgOf is the id of organization name.
func orgID(ctx context.Context, c conn, name string) (string, error) {
	var id string
	err := c.QueryRow(ctx, `SELECT id FROM organizations WHERE name = ?`, name).Scan(&id)
	return id, err
}

// inOrg reports whether table's row id belongs to organization orgID.
func inOrg(ctx context.Context, c conn, table, id, orgID string) (bool, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE id = ? AND org_id = ?`, id, orgID).Scan(&n)
	return n == 1, err
}
