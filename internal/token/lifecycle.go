package token

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// Use spends one use of a token created with a use limit. It returns the
// uses left afterwards (0 means the token is now used up and the caller must
// revoke it after the request). A token with no limit is not touched.
func (s *Store) Use(ctx context.Context, e Entry) (left int, err error) {
	if e.NumUses <= 0 {
		return -1, nil
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE tokens SET num_uses = num_uses - 1 WHERE id = ? AND num_uses > 0`, e.id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errBad
		}
		return tx.QueryRow(ctx, `SELECT num_uses FROM tokens WHERE id = ?`, e.id).Scan(&left)
	})
	return left, err
}

// Renew extends a token's TTL by increment (its creation TTL when zero),
// never past MaxExpiresAt. Periodic tokens get their period again. It
// returns the updated entry.
func (s *Store) Renew(ctx context.Context, e Entry, increment time.Duration) (Entry, error) {
	if !e.Renewable {
		return Entry{}, fail.Invalidf("lease is not renewable")
	}
	if e.ExpiresAt.IsZero() {
		return e, nil // a non-expiring token has nothing to renew
	}
	now := s.now().UTC().Truncate(time.Second)
	ttl := increment
	switch {
	case e.Period > 0:
		ttl = e.Period
	case ttl <= 0:
		ttl = e.TTL
	}
	exp := now.Add(ttl)
	if !e.MaxExpiresAt.IsZero() && exp.After(e.MaxExpiresAt) {
		exp = e.MaxExpiresAt
	}
	if !exp.After(now) {
		return Entry{}, fail.Invalidf("lease expired")
	}
	if _, err := s.db.Exec(ctx, `UPDATE tokens SET expires_at = ?, last_renewal = ? WHERE id = ?`, exp.Unix(), now.Unix(), e.id); err != nil {
		return Entry{}, fmt.Errorf("token: renew: %w", err)
	}
	e.ExpiresAt, e.LastRenewal = exp, now
	return e, nil
}

// Revoke deletes the token with stored id and, unless orphan is set, every
// token descended from it; with orphan its children lose their parent
// instead. It returns the ids of every token removed, so their leases can be
// revoked, in one transaction so no child outlives a revoked parent.
func (s *Store) Revoke(ctx context.Context, id string, orphan bool) ([]string, error) {
	var gone []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		gone = gone[:0]
		queue := []string{id}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			res, err := tx.Exec(ctx, `DELETE FROM tokens WHERE id = ?`, cur)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				gone = append(gone, cur)
			}
			if orphan {
				_, err := tx.Exec(ctx, `UPDATE tokens SET parent_id = NULL WHERE parent_id = ?`, cur)
				return err
			}
			rows, err := tx.Query(ctx, `SELECT id FROM tokens WHERE parent_id = ?`, cur)
			if err != nil {
				return err
			}
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					rows.Close()
					return err
				}
				queue = append(queue, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("token: revoke: %w", err)
	}
	return gone, nil
}

// Expired returns the stored ids of up to limit tokens whose TTL has passed.
func (s *Store) Expired(ctx context.Context, limit int) ([]string, error) {
	return s.strings(ctx, `SELECT id FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?`, s.now().Unix(), limit)
}

// Accessors lists the accessors of every live token.
func (s *Store) Accessors(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT accessor FROM tokens WHERE expires_at IS NULL OR expires_at > ? ORDER BY accessor`, s.now().Unix())
}

// IDsByPath returns the stored ids of live tokens created under the path
// prefix (e.g. every token an auth mount issued).
func (s *Store) IDsByPath(ctx context.Context, prefix string) ([]string, error) {
	return s.strings(ctx, `SELECT id FROM tokens WHERE substr(path, 1, ?) = ?`, len([]rune(prefix)), prefix)
}

// strings runs a query returning one text column.
func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// AllowedFrom reports whether addr may use the token (its CIDR binding).
func (e Entry) AllowedFrom(addr netip.Addr) bool {
	if len(e.BoundCIDRs) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range e.BoundCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func fromUnix(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.Unix(*v, 0).UTC()
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func joinCIDRs(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func splitCIDRs(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
