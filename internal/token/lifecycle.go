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
// uses left afterwards; 0 means this was the last one, and the token is
// already marked used up (num_uses -1, Vault's "revocation in progress"), so
// no other request can use it while the caller revokes it. A token with no
// limit is not touched.
func (s *Store) Use(ctx context.Context, e Entry) (left int, err error) {
	if e.NumUses <= 0 {
		return -1, nil
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `UPDATE tokens SET num_uses = CASE WHEN num_uses = 1 THEN -1 ELSE num_uses - 1 END
			WHERE id = ? AND num_uses > 0 RETURNING num_uses`, e.id).Scan(&left)
	})
	if store.IsNotFound(err) {
		return 0, errBad
	}
	return max(left, 0), err
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
	_, err := s.db.Exec(ctx, `UPDATE tokens SET expires_at = ?, last_renewal = ? WHERE id = ?`, store.Nanos(exp), store.Nanos(now), e.id)
	s.cache.drop(false, e.id)
	if err != nil {
		return Entry{}, fmt.Errorf("token: renew: %w", err)
	}
	e.ExpiresAt, e.LastRenewal = exp, now
	return e, nil
}

// Revoke deletes the token with stored id and, unless orphan is set, every
// token descended from it; with orphan its children lose their parent
// instead. onGone runs in the same transaction for each token removed (the
// broker queues the token's leases there), so a crash cannot leave a
// revoked token's leases unqueued. Each token is locked while it goes, the
// lock Create takes on a parent, so no child can be added to a token being
// revoked. It returns the ids of every token removed.
func (s *Store) Revoke(ctx context.Context, id string, orphan bool, onGone func(tx *store.Tx, id string) error) ([]string, error) {
	var gone []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		gone = gone[:0]
		queue := []string{id}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			if err := tx.Lock(ctx, "token/"+cur); err != nil {
				return err
			}
			res, err := tx.Exec(ctx, `DELETE FROM tokens WHERE id = ?`, cur)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				gone = append(gone, cur)
				if onGone != nil {
					if err := onGone(tx, cur); err != nil {
						return err
					}
				}
			}
			if orphan {
				_, err := tx.Exec(ctx, `UPDATE tokens SET parent_id = NULL WHERE parent_id = ?`, cur)
				return err
			}
			children, err := txStrings(ctx, tx, `SELECT id FROM tokens WHERE parent_id = ?`, cur)
			if err != nil {
				return err
			}
			queue = append(queue, children...)
		}
		return nil
	})
	// Before returning: from now on this node refuses every token gone. A
	// failed or orphaning revocation may have touched any token.
	s.cache.drop(err != nil || orphan, gone...)
	if err != nil {
		return nil, fmt.Errorf("token: revoke: %w", err)
	}
	return gone, nil
}

// Live reports, inside tx, whether the token with stored id exists and is
// usable, after locking it against a concurrent Revoke. Whatever is created
// for the token in the same transaction (a child, a lease) is then either
// seen by the revocation or refused here.
func Live(ctx context.Context, tx *store.Tx, id string, now time.Time) (bool, error) {
	if err := tx.Lock(ctx, "token/"+id); err != nil {
		return false, err
	}
	var uses int
	var exp *int64
	err := tx.QueryRow(ctx, `SELECT num_uses, expires_at FROM tokens WHERE id = ?`, id).Scan(&uses, &exp)
	if store.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return uses >= 0 && (exp == nil || store.Nanos(now) < *exp), nil
}

// Expired returns the stored ids of up to limit tokens whose TTL has passed.
func (s *Store) Expired(ctx context.Context, limit int) ([]string, error) {
	return s.strings(ctx, `SELECT id FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?`, store.Nanos(s.now()), limit)
}

// Accessors lists the accessors of every live token.
func (s *Store) Accessors(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT accessor FROM tokens WHERE expires_at IS NULL OR expires_at > ? ORDER BY accessor`, store.Nanos(s.now()))
}

// IDsByPath returns the stored ids of live tokens created under the path
// prefix (e.g. every token an auth mount issued).
func (s *Store) IDsByPath(ctx context.Context, prefix string) ([]string, error) {
	cond, args := store.Prefix("path", prefix)
	return s.strings(ctx, `SELECT id FROM tokens WHERE `+cond, args...)
}

// strings runs a query returning one text column.
func (s *Store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return store.Strings(rows)
}

func txStrings(ctx context.Context, tx *store.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return store.Strings(rows)
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

// CountLive counts the tokens not expired, over tokens_expiry.
func (s *Store) CountLive(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM tokens WHERE expires_at IS NULL OR expires_at > ?`, store.Nanos(s.now())).Scan(&n)
	return n, err
}
