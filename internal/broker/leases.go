package broker

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/token"
)

// Lease states.
const (
	leaseActive      = "active"
	leaseIrrevocable = "irrevocable"
)

// lease is one row of the leases table.
type lease struct {
	ID           string
	MountUUID    string
	Path         string // relative to the mount
	TokenID      string // stored id of the token that created it
	IssuedAt     time.Time
	ExpiresAt    time.Time
	MaxExpiresAt time.Time
	LastRenewal  time.Time
	Renewable    bool
	Internal     map[string]any
	Meta         json.RawMessage // the creating token's run metadata (a JSON object), for audit
	State        string
	Attempts     int
	LastError    string

	undecryptable error     // set when Internal could not be unsealed
	claimedUntil  time.Time // when this node's claim on it lapses (a drain's page)
}

// leaseStore keeps leases; the internal data an engine needs to revoke is
// sealed, bound to the lease id.
type leaseStore struct {
	db   *store.DB
	seal *seal.Seal
	now  func() time.Time

	// held are this node's claims on SQLite, which serves one node: a
	// lease id and when its claim lapses. A claim is then a read, beside
	// the writes; on PostgreSQL, which nodes share, it is written to the
	// lease's row (claimed_until). A claim's read and its takes happen under
	// reading, and a claim is given up (release) only under its write lock,
	// after what settled the lease committed: so no read that began before
	// that commit, and still shows the lease due, can take it after.
	reading  sync.RWMutex
	mu       sync.Mutex // guards held and prunedAt
	held     map[string]time.Time
	prunedAt time.Time
}

const leaseColumns = `id, mount_uuid, path, token_id, issued_at, expires_at, max_expires_at, last_renewal, renewable, internal, meta, state, attempts, last_error`

func (s *leaseStore) create(ctx context.Context, l *lease) error {
	internal, err := json.Marshal(l.Internal)
	if err != nil {
		return fmt.Errorf("broker: lease internal data: %w", err)
	}
	sealed, err := s.seal.Encrypt(internal, "lease/"+l.ID)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if l.TokenID != "" { // a token being revoked gets no new lease
			live, err := token.Live(ctx, tx, l.TokenID, s.now())
			if err != nil {
				return err
			}
			if !live {
				return errPermissionDenied
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO leases (`+leaseColumns+`, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			l.ID, l.MountUUID, l.Path, nullable(l.TokenID), store.Nanos(l.IssuedAt), store.Nanos(l.ExpiresAt), store.Nanos(l.MaxExpiresAt), nil,
			boolInt(l.Renewable), sealed, string(l.Meta), leaseActive, 0, "")
		return err
	})
}

func (s *leaseStore) get(ctx context.Context, id string) (*lease, error) {
	if id == "" || len(id) > 1024 {
		return nil, nil
	}
	var r rawLease
	err := r.scan(s.db.QueryRow(ctx, `SELECT `+leaseColumns+` FROM leases WHERE id = ?`, id))
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := s.open(&r)
	if l.undecryptable != nil {
		return nil, l.undecryptable
	}
	return l, nil
}

// rawLease is a lease row as stored: its internal data still sealed.
type rawLease struct {
	l                 lease
	tokenID           *string
	issued, exp, maxE int64
	renewed           *int64
	ren               int
	sealed            []byte
	meta              []byte
}

func (r *rawLease) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&r.l.ID, &r.l.MountUUID, &r.l.Path, &r.tokenID,
		&r.issued, &r.exp, &r.maxE, &r.renewed, &r.ren, &r.sealed, &r.meta, &r.l.State, &r.l.Attempts, &r.l.LastError)
}

// open unseals a stored lease. A lease that cannot be unsealed is returned
// with undecryptable set: it can neither be revoked through its engine nor
// be let to block others.
func (s *leaseStore) open(r *rawLease) *lease {
	l := r.l
	if r.tokenID != nil {
		l.TokenID = *r.tokenID
	}
	l.IssuedAt, l.ExpiresAt, l.MaxExpiresAt, l.LastRenewal = store.Time(r.issued), store.Time(r.exp), store.Time(r.maxE), store.NullTime(r.renewed)
	l.Renewable = r.ren != 0
	if json.Valid(r.meta) { // audit records carry it as it is
		l.Meta = r.meta
	}
	pt, err := s.seal.Decrypt(r.sealed, "lease/"+l.ID)
	if err == nil {
		err = json.Unmarshal(pt, &l.Internal)
	}
	if err != nil {
		l.undecryptable = fmt.Errorf("broker: lease %s: %w", l.ID, err)
	}
	return &l
}

// renewed records a renewal; its time is whole seconds, as a lease's issue
// and expiry times are (Vault's lease times are).
func (s *leaseStore) renewed(ctx context.Context, id string, exp time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE leases SET expires_at = ?, last_renewal = ? WHERE id = ? AND state = ?`,
		store.Nanos(exp), store.Nanos(s.now().Truncate(time.Second)), id, leaseActive)
	return err
}

// Lease work is set-based: revoking or expiring N leases runs a bounded
// number of statements per page of leasePage leases (claim, delete, record
// failures), never one per lease, and holds two pages in memory at a time
// (one claimed while the other is settled). Leases are selected by indexed
// conditions only: a prefix is a range on the id (store.Prefix), a mount's
// leases go by leases_mount, a token's by leases_token, due leases by
// leases_due. Pages of 1,000 rather than 500 cut PostgreSQL's revoke-prefix
// of 100,000 leases from 1.89-2.01 s to 1.70-1.86 s; at the default
// upstream rate (50 a second) a page's record comes after 20 s of calls.
const leasePage = 1000

// execer is a store.DB or a store.Tx.
type execer interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// states is the condition on state of the leases a revocation takes: active
// ones, and with force (revoke-force) irrevocable ones too.
func states(force bool) string { return stateIn("state", force) }

func stateIn(col string, force bool) string {
	if force {
		return col + ` IN ('` + leaseActive + `', '` + leaseIrrevocable + `')`
	}
	return col + ` = '` + leaseActive + `'`
}

// markDue makes the leases matching where due now, in one statement, so a
// claim takes them at once (and the expiry task, should this node stop). It
// returns how many it marked.
func (s *leaseStore) markDue(ctx context.Context, db execer, force bool, where string, args ...any) (int64, error) {
	now := store.Nanos(s.now().Truncate(time.Second)) // an expiry shown to clients: whole seconds
	res, err := db.Exec(ctx, `UPDATE leases SET expires_at = CASE WHEN expires_at > ? THEN ? ELSE expires_at END, next_attempt = 0 WHERE `+
		states(force)+` AND `+where, append([]any{now, now}, args...)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// retryNow makes the leases matching where that wait for a retry
// claimable at once, in one statement that writes only those rows: what a
// revocation asks of leases in backoff. A lease another drain holds stays
// its.
func (s *leaseStore) retryNow(ctx context.Context, force bool, where string, args ...any) error {
	_, err := s.db.Exec(ctx, `UPDATE leases SET next_attempt = 0 WHERE `+stateIn("(state || '')", force)+` AND next_attempt > 0 AND `+where, args...)
	return err
}

// claim reserves for this node, for hold, up to n leases matching where
// that are due (expired, and their next attempt due), and returns them,
// with the last candidate in order and whether the candidates filled the
// limit (the drain's next page starts after that candidate; a candidate
// another drain holds is passed over). Ordered by "id", the candidates
// come from a range of the id index (where is a prefix, a mount, a token
// or an id; the state is tested on the row, not through leases_due, which
// would read every due lease per page); ordered by "expires_at" (the
// expiry task) from leases_due. A lease is claimed once at a time:
//   - On PostgreSQL the claim is one statement that writes the claim's end
//     into claimed_until, and a row is claimed only if no other claim took
//     it meanwhile, across nodes.
//   - On SQLite, which serves one node, the candidates are read beside the
//     writes and the claim is kept in memory (held): a claim lapses, as on
//     PostgreSQL, and is gone with the process, as one lost in a crash.
//
// A lease whose sealed data cannot be read comes back with undecryptable
// set, to be recorded as a failed revocation rather than block its page.
func (s *leaseStore) claim(ctx context.Context, force bool, where, order string, args []any, n int, hold time.Duration) (page []*lease, last *lease, more bool, err error) {
	now := s.now()
	end := now.Add(hold)
	q, a := claimQuery(s.db.Dialect(), force, where, order, args, n, now, end)
	var raw []rawLease
	if s.db.Dialect() == store.Postgres {
		raw, err = s.claimRows(ctx, q, a)
	} else {
		s.reading.RLock()
		defer s.reading.RUnlock()
		raw, err = s.readRows(ctx, q, a)
	}
	if err != nil {
		return nil, nil, false, err
	}
	byID := order == "id"
	for i := range raw {
		l := s.open(&raw[i])
		l.claimedUntil = end
		if last == nil || sortsAfter(l, last, byID) { // RETURNING comes in no particular order
			last = l
		}
		if s.db.Dialect() == store.Postgres || s.take(l.ID, now, hold) {
			page = append(page, l)
		}
	}
	return page, last, len(raw) == n, nil
}

// claimRows runs PostgreSQL's claim statement.
func (s *leaseStore) claimRows(ctx context.Context, q string, a []any) ([]rawLease, error) {
	var raw []rawLease
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		// Walk the index in order and stop at the limit. Right after many
		// leases were written, before autovacuum has analyzed the table,
		// the planner expects a handful of rows and reads the whole range
		// into a bitmap and sorts it: a page cost the rest. A claim need
		// not wait for the disk: one lost in a crash only leaves its
		// leases to be claimed again.
		if _, err := tx.Exec(ctx, `SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true), set_config('synchronous_commit', 'off', true)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, q, a...)
		if err != nil {
			return err
		}
		raw, err = scanLeases(rows)
		return err
	})
	return raw, err
}

// readRows runs SQLite's candidate query.
func (s *leaseStore) readRows(ctx context.Context, q string, a []any) ([]rawLease, error) {
	rows, err := s.db.Query(ctx, q, a...)
	if err != nil {
		return nil, err
	}
	return scanLeases(rows)
}

func scanLeases(rows *sql.Rows) ([]rawLease, error) {
	defer rows.Close()
	var raw []rawLease
	for rows.Next() {
		var r rawLease
		if err := r.scan(rows); err != nil {
			return nil, err
		}
		raw = append(raw, r)
	}
	return raw, rows.Err()
}

// take claims lease id in memory until now+hold, unless another claim on
// it has not lapsed. Lapsed claims (of a drain that stopped without giving
// them up) are dropped once a hold has passed.
func (s *leaseStore) take(id string, now time.Time, hold time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.prunedAt) >= hold {
		for k, until := range s.held {
			if !until.After(now) {
				delete(s.held, k)
			}
		}
		s.prunedAt = now
	}
	if until, ok := s.held[id]; ok && until.After(now) {
		return false
	}
	if s.held == nil {
		s.held = map[string]time.Time{}
	}
	s.held[id] = now.Add(hold)
	return true
}

// giveUp gives up this node's claims on leases a drain stopped without
// settling, so that a revocation asked again takes them at once. On
// PostgreSQL that is a statement; should it fail, the claims lapse.
func (s *leaseStore) giveUp(ctx context.Context, page []*lease) {
	if s.db.Dialect() != store.Postgres {
		s.release(page)
		return
	}
	if len(page) == 0 {
		return
	}
	end := page[0].claimedUntil // one claim's leases
	ids := make([]string, len(page))
	for i, l := range page {
		ids[i] = l.ID
	}
	for chunk := range slices.Chunk(ids, leasePage) {
		in, args := store.In("id", chunk)
		if _, err := s.db.Exec(context.WithoutCancel(ctx), `UPDATE leases SET claimed_until = 0 WHERE claimed_until = ? AND `+in,
			append([]any{store.Nanos(end)}, args...)...); err != nil {
			return
		}
	}
}

// release gives up this node's claims on leases on SQLite once what
// settled them committed (deleted, or their next attempt recorded), or once
// a drain stopped without settling them. It waits for the claims being read
// to be taken. (On PostgreSQL a settled lease's claim goes with its row or
// its failure.)
func (s *leaseStore) release(leases []*lease) {
	if len(leases) == 0 || s.db.Dialect() == store.Postgres {
		return
	}
	s.reading.Lock()
	defer s.reading.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range leases {
		delete(s.held, l.ID)
	}
}

// claimQuery is claim's statement and its arguments.
//
// Ordered by id, the leases are those a revocation names (a prefix, a
// mount, a token's, one id), taken whether expired or not: the state is
// tested on the row, not through leases_due (which would read every due
// lease per page). The expiry task's (by expires_at) take expired leases
// only, through leases_due. A lease is due when its next attempt (after a
// failed revocation) is; on PostgreSQL also when no claim holds it
// (claimed_until), a column of its own so that making a lease's next
// attempt due (retryNow, markDue) never takes it from a drain that holds it.
func claimQuery(d store.Dialect, force bool, where, order string, args []any, n int, now, end time.Time) (string, []any) {
	t := store.Nanos(now)
	due, a := stateIn("(state || '')", force)+` AND next_attempt <= ?`, []any{t}
	if order != "id" {
		due, a = states(force)+` AND expires_at <= ? AND next_attempt <= ?`, []any{t, t}
	}
	if d == store.Postgres {
		due, a = due+` AND claimed_until <= ?`, append(a, t)
	}
	candidates := ` FROM leases WHERE ` + due + ` AND ` + where + ` ORDER BY ` + order + ` LIMIT ?`
	a = append(append(a, args...), n)
	if d != store.Postgres {
		return `SELECT ` + leaseColumns + candidates, a
	}
	return `UPDATE leases SET claimed_until = ? WHERE id IN (SELECT id` + candidates + `) AND next_attempt <= ? AND claimed_until <= ? RETURNING ` + leaseColumns,
		append(append([]any{store.Nanos(end)}, a...), t, t)
}

// remove deletes leases, a chunk of ids per statement.
func (s *leaseStore) remove(ctx context.Context, ids []string) error {
	for chunk := range slices.Chunk(ids, leasePage) {
		in, args := store.In("id", chunk)
		if _, err := s.db.Exec(ctx, `DELETE FROM leases WHERE `+in, args...); err != nil {
			return err
		}
	}
	return nil
}

// failure is a failed revocation to record: retry at next, or give up.
type failure struct {
	id          string
	attempts    int
	next        time.Time
	msg         string
	irrevocable bool
}

// failed records failed revocations, a chunk per statement: each row gets
// its own attempt count, next attempt, error and state from a VALUES list.
// A lease whose revocation was asked before its time expires now, so the
// expiry task retries it (and lookups show it ended).
func (s *leaseStore) failed(ctx context.Context, fs []failure) error {
	now := store.Nanos(s.now().Truncate(time.Second))
	for chunk := range slices.Chunk(fs, leasePage) {
		var vals strings.Builder
		args := make([]any, 0, 5*len(chunk))
		for i, f := range chunk {
			if i > 0 {
				vals.WriteString(", ")
			}
			vals.WriteString(`(?, CAST(? AS INTEGER), CAST(? AS BIGINT), ?, ?)`)
			state := leaseActive
			if f.irrevocable {
				state = leaseIrrevocable
			}
			args = append(args, f.id, f.attempts, store.Nanos(f.next), truncate(f.msg, 500), state)
		}
		_, err := s.db.Exec(ctx, `WITH v (id, attempts, next_attempt, last_error, state) AS (VALUES `+vals.String()+`)
			UPDATE leases SET attempts = v.attempts, next_attempt = v.next_attempt, last_error = v.last_error, state = v.state, claimed_until = 0,
				expires_at = CASE WHEN expires_at > ? THEN ? ELSE expires_at END
			FROM v WHERE leases.id = v.id`, append(args, now, now)...)
		if err != nil {
			return err
		}
	}
	return nil
}

// list returns the ids under prefix (immediate children, folders end in
// "/"), reading the prefix's range of the id index in order, so a folder's
// ids come together and are folded as they pass.
func (s *leaseStore) list(ctx context.Context, prefix string) ([]string, error) {
	cond, args := store.Prefix("id", prefix)
	rows, err := s.db.Query(ctx, `SELECT id FROM leases WHERE `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		rest := strings.TrimPrefix(id, prefix)
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		if rest != "" && (len(out) == 0 || out[len(out)-1] != rest) {
			out = append(out, rest)
		}
	}
	return out, rows.Err()
}

// irrevocable lists up to limit irrevocable leases, without their sealed data.
func (s *leaseStore) irrevocable(ctx context.Context, limit int) ([]*lease, error) {
	rows, err := s.db.Query(ctx, `SELECT id, mount_uuid, expires_at, last_error FROM leases WHERE state = ? ORDER BY id LIMIT ?`, leaseIrrevocable, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*lease
	for rows.Next() {
		l := &lease{State: leaseIrrevocable}
		var exp int64
		if err := rows.Scan(&l.ID, &l.MountUUID, &exp, &l.LastError); err != nil {
			return nil, err
		}
		l.ExpiresAt = store.Time(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}

// LeaseCounts are the leases of the database: live (active, not yet
// expired), expiring (active and expired: queued for revocation or being
// retried) and irrevocable.
type LeaseCounts struct {
	Live, Expiring, Irrevocable int64
}

// counts counts leases by state and expiry with one statement over the
// leases_due index (state, expires_at), which covers it.
func (s *leaseStore) counts(ctx context.Context) (LeaseCounts, error) {
	var c LeaseCounts
	now := store.Nanos(s.now())
	err := s.db.QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN state = ? AND expires_at > ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = ? AND expires_at <= ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0) FROM leases`,
		leaseActive, now, leaseActive, now, leaseIrrevocable).Scan(&c.Live, &c.Expiring, &c.Irrevocable)
	return c, err
}

// countIrrevocable counts irrevocable leases over the leases_due index.
func (s *leaseStore) countIrrevocable(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM leases WHERE state = ?`, leaseIrrevocable).Scan(&n)
	return n, err
}

// errLeaseNotFound is Vault's answer to a lease id that names nothing.
var errLeaseNotFound = fail.Invalidf("lease not found")

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// truncate cuts s to at most n bytes, never inside a UTF-8 sequence: the
// result is stored as text, which PostgreSQL requires to be valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
