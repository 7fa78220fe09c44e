package run

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// All of the run lifecycle's SQL. Statements take conn, the database or a
// transaction, so the service decides what runs in one transaction.

// conn is what a statement runs on: *store.DB or *store.Tx.
type conn interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRow(ctx context.Context, q string, args ...any) *store.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

const runColumns = `id, workspace_id, number, configuration_version_id, plan_id, apply_id, status, message, is_destroy, plan_only,
	auto_apply, has_changes, plan_additions, plan_changes, plan_destructions, apply_additions, apply_changes, apply_destructions,
	created_by_kind, created_by_id, timestamps, error_message, created_at, cancel_requested,
	refresh, refresh_only, target_addrs, replace_addrs, variable_keys, source_run_id, source_workspace_id`

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var status, kind, ts, targets, replaces, keys string
	var destroy, planOnly, auto, changes, created, cancelRequested, refresh, refreshOnly int64
	err := row.Scan(&r.ID, &r.WorkspaceID, &r.Number, &r.ConfigurationVersionID, &r.PlanID, &r.ApplyID, &status, &r.Message,
		&destroy, &planOnly, &auto, &changes, &r.Plan.Additions, &r.Plan.Changes, &r.Plan.Destructions,
		&r.Apply.Additions, &r.Apply.Changes, &r.Apply.Destructions, &kind, &r.CreatedBy.ID, &ts, &r.ErrorMessage, &created, &cancelRequested,
		&refresh, &refreshOnly, &targets, &replaces, &keys, &r.SourceRunID, &r.SourceWorkspaceID)
	if err != nil {
		return Run{}, err
	}
	r.Status, r.CreatedBy.Kind = Status(status), resource.WriterKind(kind)
	r.IsDestroy, r.PlanOnly, r.AutoApply, r.HasChanges = destroy != 0, planOnly != 0, auto != 0, changes != 0
	r.CancelRequested = cancelRequested != 0
	r.Refresh, r.RefreshOnly = refresh != 0, refreshOnly != 0
	for _, l := range []struct {
		raw string
		to  *[]string
	}{{targets, &r.TargetAddrs}, {replaces, &r.ReplaceAddrs}, {keys, &r.VariableKeys}} {
		if err := json.Unmarshal([]byte(l.raw), l.to); err != nil || *l.to == nil {
			return Run{}, fail.Wrap(fail.Internal, err, "damaged run options")
		}
	}
	r.CreatedAt = store.Time(created)
	var raw map[string]int64
	if err := json.Unmarshal([]byte(ts), &raw); err != nil {
		return Run{}, fail.Wrap(fail.Internal, err, "damaged run timestamps")
	}
	r.Timestamps = make(map[Status]time.Time, len(raw))
	for k, v := range raw {
		r.Timestamps[Status(k)] = store.Time(v)
	}
	return r, nil
}

// runWhere reads the run matching where (one condition on one argument).
func runWhere(ctx context.Context, c conn, where, arg string) (Run, error) {
	return scanRun(c.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE `+where, arg))
}

// runsIn reads every run in one of statuses.
func runsIn(ctx context.Context, c conn, a, b Status) ([]Run, error) {
	rows, err := c.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE status IN (?, ?)`, string(a), string(b))
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, scanRun)
}

func listRuns(ctx context.Context, c conn, wsID string, pg resource.Page) ([]Run, int, error) {
	var total int
	if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM runs WHERE workspace_id = ?`, wsID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := c.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE workspace_id = ? ORDER BY number DESC LIMIT ? OFFSET ?`,
		wsID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanRun)
	return out, total, err
}

// lockRuns serializes, within tx, everything that changes which of a
// workspace's runs is active.
func lockRuns(ctx context.Context, tx *store.Tx, wsID string) error {
	return tx.Lock(ctx, "workspace-runs:"+wsID)
}

func nextRunNumber(ctx context.Context, c conn, wsID string) (int, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(number), 0) + 1 FROM runs WHERE workspace_id = ?`, wsID).Scan(new(int), &n)
	return n, err
}

func activeRuns(ctx context.Context, c conn, wsID string) (int, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT COUNT(*) FROM runs WHERE workspace_id = ? AND active = 1`, wsID).Scan(&n)
	return n, err
}

// insertRun inserts r; vars are its sealed run variables, nil for none.
func insertRun(ctx context.Context, c conn, r Run, ts string, vars []byte) error {
	targets, err := json.Marshal(nonNil(r.TargetAddrs))
	if err != nil {
		return err
	}
	replaces, err := json.Marshal(nonNil(r.ReplaceAddrs))
	if err != nil {
		return err
	}
	keys, err := json.Marshal(nonNil(r.VariableKeys))
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, `INSERT INTO runs (id, workspace_id, number, configuration_version_id, plan_id, apply_id, status, active,
			message, is_destroy, plan_only, auto_apply, has_changes, plan_additions, plan_changes, plan_destructions,
			apply_additions, apply_changes, apply_destructions, plan_json, created_by_kind, created_by_id, timestamps, error_message, created_at,
			refresh, refresh_only, target_addrs, replace_addrs, variable_keys, variables, source_run_id, source_workspace_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, NULL, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.WorkspaceID, r.Number, r.ConfigurationVersionID, r.PlanID, r.ApplyID, string(r.Status), resource.B2I(r.Status.holdsWorkspace()),
		r.Message, resource.B2I(r.IsDestroy), resource.B2I(r.PlanOnly), resource.B2I(r.AutoApply), string(r.CreatedBy.Kind), r.CreatedBy.ID, ts, store.Nanos(r.CreatedAt),
		resource.B2I(r.Refresh), resource.B2I(r.RefreshOnly), string(targets), string(replaces), string(keys), vars, r.SourceRunID, r.SourceWorkspaceID)
	return err
}

// runVariables reads run id's sealed run variables.
func runVariables(ctx context.Context, c conn, id string) ([]byte, error) {
	var sealed []byte
	err := c.QueryRow(ctx, `SELECT variables FROM runs WHERE id = ?`, id).Scan(&sealed)
	return sealed, err
}

// updateRun writes r's status and results if its status is still from.
func updateRun(ctx context.Context, c conn, r Run, ts string, from Status) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE runs SET cancel_requested = 0, status = ?, active = ?, timestamps = ?, has_changes = ?,
			plan_additions = ?, plan_changes = ?, plan_destructions = ?, apply_additions = ?, apply_changes = ?, apply_destructions = ?,
			error_message = ? WHERE id = ? AND status = ?`,
		string(r.Status), resource.B2I(r.Status.holdsWorkspace()), ts, resource.B2I(r.HasChanges),
		r.Plan.Additions, r.Plan.Changes, r.Plan.Destructions, r.Apply.Additions, r.Apply.Changes, r.Apply.Destructions,
		r.ErrorMessage, r.ID, string(from))
}

func dropPlanFile(ctx context.Context, c conn, id string) error {
	_, err := c.Exec(ctx, `UPDATE runs SET plan_file = NULL WHERE id = ?`, id)
	return err
}

// nextPending is the workspace's oldest pending run.
func nextPending(ctx context.Context, c conn, wsID string) (Run, error) {
	return scanRun(c.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE workspace_id = ? AND status = ? ORDER BY number LIMIT 1`,
		wsID, string(Pending)))
}

// queuePending makes pending run id its workspace's active run.
func queuePending(ctx context.Context, c conn, id, ts string) error {
	_, err := c.Exec(ctx, `UPDATE runs SET status = ?, active = 1, timestamps = ? WHERE id = ? AND status = ?`,
		string(PlanQueued), ts, id, string(Pending))
	return err
}

func requestCancel(ctx context.Context, c conn, id string) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status IN (?, ?)`,
		id, string(Planning), string(Applying))
}

// claimable lists the ids of the oldest queued runs of pool poolID's
// workspaces ("" for workspaces without a pool).
func claimable(ctx context.Context, c conn, poolID string) (*sql.Rows, error) {
	return c.Query(ctx, `SELECT r.id FROM runs r JOIN workspaces w ON w.id = r.workspace_id
		WHERE w.agent_pool_id = ? AND r.status IN (?, ?) ORDER BY r.created_at, r.number LIMIT 10`,
		poolID, string(PlanQueued), string(ApplyQueued))
}

// setJobTokens records the job token and the run token of run id's
// running phase.
func setJobTokens(ctx context.Context, c conn, id string, t jobTokens) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE runs SET job_token_accessor = ?, run_token_accessor = ?, run_token_policy = ? WHERE id = ? AND status IN (?, ?)`,
		t.jobAccessor, t.runAccessor, t.runPolicy, id, string(Planning), string(Applying))
}

// jobTokens are what a phase was given that its end takes back.
type jobTokens struct {
	jobAccessor string
	runAccessor string
	runPolicy   string
}

func jobTokensOf(ctx context.Context, c conn, id string) (jobTokens, error) {
	var t jobTokens
	err := c.QueryRow(ctx, `SELECT job_token_accessor, run_token_accessor, run_token_policy FROM runs WHERE id = ?`, id).
		Scan(&t.jobAccessor, &t.runAccessor, &t.runPolicy)
	return t, err
}

// clearJobToken forgets run id's job token accessor if it is still acc;
// a failure leaves it for the next end of the run to try again.
func clearJobToken(ctx context.Context, c conn, id, acc string) {
	_, _ = c.Exec(ctx, `UPDATE runs SET job_token_accessor = '' WHERE id = ? AND job_token_accessor = ?`, id, acc)
}

// clearRunToken forgets run id's run token and its policy if the token is
// still acc.
func clearRunToken(ctx context.Context, c conn, id, acc string) {
	_, _ = c.Exec(ctx, `UPDATE runs SET run_token_accessor = '', run_token_policy = '' WHERE id = ? AND run_token_accessor = ?`, id, acc)
}

// clearRunTokenPolicy forgets run id's run token policy if it is still
// policy (deleted).
func clearRunTokenPolicy(ctx context.Context, c conn, id, policy string) {
	_, _ = c.Exec(ctx, `UPDATE runs SET run_token_policy = '' WHERE id = ? AND run_token_policy = ?`, id, policy)
}

// endedWithTokens lists (some of) the runs whose phase has ended but
// still hold a token or policy to take back.
func endedWithTokens(ctx context.Context, c conn) ([]string, error) {
	rows, err := c.Query(ctx, `SELECT id FROM runs WHERE status NOT IN (?, ?)
		AND (job_token_accessor <> '' OR run_token_accessor <> '' OR run_token_policy <> '') LIMIT 100`,
		string(Planning), string(Applying))
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
}

// runTokenLive reports whether run token policy belongs to a running
// phase.
func runTokenLive(ctx context.Context, c conn, policy string) (bool, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT COUNT(*) FROM runs WHERE run_token_policy = ? AND status IN (?, ?)`,
		policy, string(Planning), string(Applying)).Scan(&n)
	return n > 0, err
}

// liveRunToken is a running phase's run token policy.
type liveRunToken struct {
	workspaceID string
	policy      string
}

// liveRunTokens lists the run token policies of org's running phases.
func liveRunTokens(ctx context.Context, c conn, org string) ([]liveRunToken, error) {
	rows, err := c.Query(ctx, `SELECT r.workspace_id, r.run_token_policy FROM runs r
		JOIN workspaces w ON w.id = r.workspace_id JOIN organizations o ON o.id = w.org_id
		WHERE o.name = ? AND r.status IN (?, ?) AND r.run_token_policy <> ''`, org, string(Planning), string(Applying))
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (liveRunToken, error) {
		var l liveRunToken
		err := r.Scan(&l.workspaceID, &l.policy)
		return l, err
	})
}

func planFile(ctx context.Context, c conn, id string) ([]byte, error) {
	var sealed []byte
	err := c.QueryRow(ctx, `SELECT plan_file FROM runs WHERE id = ?`, id).Scan(&sealed)
	return sealed, err
}

func storePlanFile(ctx context.Context, c conn, id string, sealed []byte) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE runs SET plan_file = ? WHERE id = ? AND status = ?`, sealed, id, string(Planning))
}

func planJSON(ctx context.Context, c conn, id string) ([]byte, error) {
	var sealed []byte
	err := c.QueryRow(ctx, `SELECT plan_json FROM runs WHERE id = ?`, id).Scan(&sealed)
	return sealed, err
}

func storePlanJSON(ctx context.Context, c conn, id string, sealed []byte) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE runs SET plan_json = ? WHERE id = ? AND status = ?`, sealed, id, string(Planning))
}

func logChunks(ctx context.Context, c conn, phaseID string) (*sql.Rows, error) {
	return c.Query(ctx, `SELECT seq, chunk FROM run_log_chunks WHERE phase_id = ? ORDER BY seq`, phaseID)
}

// lockLog serializes, within tx, appends to phase phaseID's log.
func lockLog(ctx context.Context, tx *store.Tx, phaseID string) error {
	return tx.Lock(ctx, "log:"+phaseID)
}

func nextLogSeq(ctx context.Context, c conn, phaseID string) (int, error) {
	var seq int
	err := c.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM run_log_chunks WHERE phase_id = ?`, phaseID).Scan(&seq)
	return seq, err
}

func insertLogChunk(ctx context.Context, c conn, phaseID, runID string, seq int, sealed []byte) error {
	_, err := c.Exec(ctx, `INSERT INTO run_log_chunks (phase_id, run_id, seq, chunk) VALUES (?, ?, ?, ?)`, phaseID, runID, seq, sealed)
	return err
}

func lockWorkspace(ctx context.Context, c conn, wsID, by, reason string) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE workspaces SET locked_by = ?, lock_reason = ? WHERE id = ? AND locked_by = ''`, by, reason, wsID)
}

func unlockWorkspace(ctx context.Context, c conn, wsID, lockedBy string) (sql.Result, error) {
	return c.Exec(ctx, `UPDATE workspaces SET locked_by = '', lock_reason = '' WHERE id = ? AND locked_by = ?`, wsID, lockedBy)
}

// lockedIn reports whether workspace id is locked, inside a transaction
// holding its runs lock.
func lockedIn(ctx context.Context, tx conn, id string) (bool, error) {
	var by string
	if err := tx.QueryRow(ctx, `SELECT locked_by FROM workspaces WHERE id = ?`, id).Scan(&by); err != nil {
		return false, err
	}
	return by != "", nil
}

// Post-plan checks (postplan.go).

const checkColumns = `id, run_id, status, outcome, plan_hash, overridden_by, override_comment, override_hash, timestamps, created_at, updated_at`

func scanCheck(row interface{ Scan(...any) error }) (Check, error) {
	var c Check
	var outcome, ts string
	var created, updated int64
	if err := row.Scan(&c.ID, &c.RunID, &c.Status, &outcome, &c.PlanHash, &c.OverriddenBy, &c.OverrideComment, &c.OverrideHash,
		&ts, &created, &updated); err != nil {
		return Check{}, err
	}
	if err := json.Unmarshal([]byte(outcome), &c.Outcome); err != nil {
		return Check{}, fail.Wrap(fail.Internal, err, "damaged policy check outcome")
	}
	var raw map[string]int64
	if err := json.Unmarshal([]byte(ts), &raw); err != nil {
		return Check{}, fail.Wrap(fail.Internal, err, "damaged policy check timestamps")
	}
	c.Timestamps = make(map[string]time.Time, len(raw))
	for k, v := range raw {
		c.Timestamps[k] = store.Time(v)
	}
	c.CreatedAt, c.UpdatedAt = store.Time(created), store.Time(updated)
	return c, nil
}

func encodeCheck(c Check) (string, string, error) {
	o, err := json.Marshal(c.Outcome)
	if err != nil {
		return "", "", err
	}
	raw := make(map[string]int64, len(c.Timestamps))
	for k, v := range c.Timestamps {
		raw[k] = store.Nanos(v)
	}
	ts, err := json.Marshal(raw)
	return string(o), string(ts), err
}

func insertCheck(ctx context.Context, c conn, ch Check) error {
	o, ts, err := encodeCheck(ch)
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, `INSERT INTO run_policy_checks (`+checkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ch.ID, ch.RunID, ch.Status, o, ch.PlanHash, ch.OverriddenBy, ch.OverrideComment, ch.OverrideHash, ts,
		store.Nanos(ch.CreatedAt), store.Nanos(ch.UpdatedAt))
	return err
}

// updateCheck writes ch if it is still running.
func updateCheck(ctx context.Context, c conn, ch Check) error {
	o, ts, err := encodeCheck(ch)
	if err != nil {
		return err
	}
	res, err := c.Exec(ctx, `UPDATE run_policy_checks SET status = ?, outcome = ?, plan_hash = ?, timestamps = ?, updated_at = ?
		WHERE id = ? AND status = ?`, ch.Status, o, ch.PlanHash, ts, store.Nanos(ch.UpdatedAt), ch.ID, StageRunning)
	return resource.Swapped(res, err, "policy check %s already ended", ch.ID)
}

// overrideCheck marks ch overridden if it still awaits an override.
func overrideCheck(ctx context.Context, c conn, ch Check) error {
	_, ts, err := encodeCheck(ch)
	if err != nil {
		return err
	}
	res, err := c.Exec(ctx, `UPDATE run_policy_checks SET status = ?, overridden_by = ?, override_comment = ?, override_hash = ?,
		timestamps = ?, updated_at = ? WHERE id = ? AND status = ?`, StageOverridden, ch.OverriddenBy, ch.OverrideComment, ch.OverrideHash,
		ts, store.Nanos(ch.UpdatedAt), ch.ID, StageAwaitingOverride)
	return resource.Swapped(res, err, "policy check %s no longer awaits an override", ch.ID)
}

// endCheck marks a check that waits or runs as ended with status (a
// canceled or discarded run's).
func endCheck(ctx context.Context, c conn, runID, status string) error {
	_, err := c.Exec(ctx, `UPDATE run_policy_checks SET status = ? WHERE run_id = ? AND status IN (?, ?)`,
		status, runID, StageRunning, StageAwaitingOverride)
	return err
}

func checkWhere(ctx context.Context, c conn, where, arg string) (Check, error) {
	return scanCheck(c.QueryRow(ctx, `SELECT `+checkColumns+` FROM run_policy_checks WHERE `+where, arg))
}

// countByStatus counts runs by status over the runs_status index.
func countByStatus(ctx context.Context, c conn) (map[string]int64, error) {
	rows, err := c.Query(ctx, `SELECT status, COUNT(*) FROM runs GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
