package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
	Meta         map[string]string // the creating token's run metadata, for audit
	State        string
	Attempts     int
	LastError    string
}

// leaseStore keeps leases; the internal data an engine needs to revoke is
// sealed, bound to the lease id.
type leaseStore struct {
	db   *store.DB
	seal *seal.Seal
	now  func() time.Time
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
	meta, _ := json.Marshal(l.Meta)
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
			boolInt(l.Renewable), sealed, string(meta), leaseActive, 0, "")
		return err
	})
}

func (s *leaseStore) get(ctx context.Context, id string) (*lease, error) {
	if id == "" || len(id) > 1024 {
		return nil, nil
	}
	var (
		l                 lease
		tokenID           *string
		issued, exp, maxE int64
		renewed           *int64
		ren               int
		sealed            []byte
		meta              string
	)
	err := s.db.QueryRow(ctx, `SELECT `+leaseColumns+` FROM leases WHERE id = ?`, id).Scan(&l.ID, &l.MountUUID, &l.Path, &tokenID,
		&issued, &exp, &maxE, &renewed, &ren, &sealed, &meta, &l.State, &l.Attempts, &l.LastError)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if tokenID != nil {
		l.TokenID = *tokenID
	}
	l.IssuedAt, l.ExpiresAt, l.MaxExpiresAt, l.LastRenewal = store.Time(issued), store.Time(exp), store.Time(maxE), store.NullTime(renewed)
	l.Renewable = ren != 0
	pt, err := s.seal.Decrypt(sealed, "lease/"+l.ID)
	if err != nil {
		return nil, fmt.Errorf("broker: lease %s: %w", l.ID, err)
	}
	if err := json.Unmarshal(pt, &l.Internal); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(meta), &l.Meta)
	return &l, nil
}

// renewed records a renewal; its time is whole seconds, as a lease's issue
// and expiry times are (Vault's lease times are).
func (s *leaseStore) renewed(ctx context.Context, id string, exp time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE leases SET expires_at = ?, last_renewal = ? WHERE id = ? AND state = ?`,
		store.Nanos(exp), store.Nanos(s.now().Truncate(time.Second)), id, leaseActive)
	return err
}

// expireNow makes active leases due at once, so the expiry task revokes
// them, and returns their ids.
func (s *leaseStore) expireNow(ctx context.Context, where string, args ...any) ([]string, error) {
	return s.selectDue(ctx, `state = '`+leaseActive+`' AND `+where, args...)
}

func (s *leaseStore) selectDue(ctx context.Context, where string, args ...any) ([]string, error) {
	var ids []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = s.dueIn(ctx, tx, where, args...)
		return err
	})
	return ids, err
}

// dueIn makes the leases matching where due now, inside tx.
func (s *leaseStore) dueIn(ctx context.Context, tx *store.Tx, where string, args ...any) ([]string, error) {
	now := store.Nanos(s.now().Truncate(time.Second)) // an expiry shown to clients: whole seconds
	rows, err := tx.Query(ctx, `SELECT id FROM leases WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	ids, err := store.Strings(rows)
	if err != nil || len(ids) == 0 {
		return ids, err
	}
	_, err = tx.Exec(ctx, `UPDATE leases SET expires_at = CASE WHEN expires_at > ? THEN ? ELSE expires_at END, next_attempt = 0 WHERE `+where,
		append([]any{now, now}, args...)...)
	return ids, err
}

// byTokenIn makes a revoked token's leases due, in the revocation's transaction.
func (s *leaseStore) byTokenIn(ctx context.Context, tx *store.Tx, tokenID string) ([]string, error) {
	return s.dueIn(ctx, tx, `state = '`+leaseActive+`' AND token_id = ?`, tokenID)
}

// byPrefix selects leases whose id starts with prefix. Matching is done on
// the id's leading characters, not LIKE, so "_" and "%" in ids are literal.
// With all set, irrevocable leases are included (revoke-force).
func (s *leaseStore) byPrefix(ctx context.Context, prefix string, all bool) ([]string, error) {
	if all {
		return s.selectDue(ctx, `substr(id, 1, ?) = ?`, len([]rune(prefix)), prefix)
	}
	return s.expireNow(ctx, `substr(id, 1, ?) = ?`, len([]rune(prefix)), prefix)
}

func (s *leaseStore) byMount(ctx context.Context, uuid string) ([]string, error) {
	return s.expireNow(ctx, `mount_uuid = ?`, uuid)
}

// due returns leases whose time is up and whose next attempt is due.
func (s *leaseStore) due(ctx context.Context, limit int) ([]string, error) {
	now := store.Nanos(s.now())
	rows, err := s.db.Query(ctx, `SELECT id FROM leases WHERE state = ? AND expires_at <= ? AND next_attempt <= ? ORDER BY expires_at LIMIT ?`,
		leaseActive, now, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// claim reserves a due lease for this node for hold, so two nodes do not
// revoke it at once. It reports whether the claim was won.
func (s *leaseStore) claim(ctx context.Context, id string, hold time.Duration) (bool, error) {
	now := s.now()
	res, err := s.db.Exec(ctx, `UPDATE leases SET next_attempt = ? WHERE id = ? AND state = ? AND next_attempt <= ?`,
		store.Nanos(now.Add(hold)), id, leaseActive, store.Nanos(now))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *leaseStore) remove(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM leases WHERE id = ?`, id)
	return err
}

// failed records a failed revocation: retry after next, or give up.
func (s *leaseStore) failed(ctx context.Context, id string, attempts int, next time.Time, msg string, irrevocable bool) error {
	state := leaseActive
	if irrevocable {
		state = leaseIrrevocable
	}
	_, err := s.db.Exec(ctx, `UPDATE leases SET attempts = ?, next_attempt = ?, last_error = ?, state = ? WHERE id = ?`,
		attempts, store.Nanos(next), truncate(msg, 500), state, id)
	return err
}

// list returns the ids under prefix (immediate children, folders end in "/").
func (s *leaseStore) list(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM leases WHERE substr(id, 1, ?) = ?`, len([]rune(prefix)), prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]bool{}
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
		if rest != "" && !seen[rest] {
			seen[rest] = true
			out = append(out, rest)
		}
	}
	return out, rows.Err()
}

func (s *leaseStore) irrevocable(ctx context.Context, limit int) ([]*lease, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM leases WHERE state = ? ORDER BY id LIMIT ?`, leaseIrrevocable, limit)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	var out []*lease
	for _, id := range ids {
		l, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		if l != nil {
			out = append(out, l)
		}
	}
	return out, nil
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
