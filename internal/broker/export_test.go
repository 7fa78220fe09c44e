package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
)

// Sweep runs one round of the expiry task (tests drive time themselves).
func (b *Broker) Sweep(ctx context.Context) { b.sweep(ctx) }

// Special reports what the pipeline asks of an op on path before it runs:
// no token (unauth), or sudo on top of the ACL capability.
func (b *Broker) Special(ctx context.Context, path string, op engine.Operation) (unauth, sudo bool, err error) {
	m, rest, err := b.mounts.route(ctx, path)
	if err != nil || m == nil {
		return false, false, err
	}
	r, err := b.router(ctx, m)
	if err != nil {
		return false, false, err
	}
	p := r.path(rest, op)
	return p.Unauthenticated, p.Sudo, nil
}

// MountStorage is the sealed storage of the mount with the given uuid.
func MountStorage(db *store.DB, s *seal.Seal, uuid string) engine.Storage {
	return newMountStorage(db, s, uuid)
}

// NodeCache is one server node's cache of engine storage values.
type NodeCache = storageCache

// NewNodeCache is a node's cache whose entries last ttl by now.
func NewNodeCache(ttl time.Duration, now func() time.Time) *NodeCache {
	return newStorageCache(ttl, now)
}

// CachedMountStorage is the mount's storage on the node whose cache is c,
// serving the keys cacheable names from c.
func CachedMountStorage(db *store.DB, s *seal.Seal, uuid string, c *NodeCache, cacheable func(string) bool) engine.Storage {
	st := newMountStorage(db, s, uuid)
	st.cache, st.cacheable = c, cacheable
	return st
}

// LeasePage is how many leases a drain claims and settles at once.
const LeasePage = leasePage

// InsertLeases stores n active leases of the mount at mountPath straight
// into the database, as a token-less read of creds/<name> issued now for
// ttl would: ids mountPath+"creds/"+name+"/<seq>", internal data sealed as
// the real ones are. Multi-row INSERTs in one transaction per chunk: how
// tests and benchmarks of lease work at scale get 100,000 leases quickly.
func (b *Broker) InsertLeases(ctx context.Context, mountPath, name string, n int, ttl time.Duration) error {
	m, err := b.mounts.byPath(ctx, mountPath)
	if err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("no mount at %s", mountPath)
	}
	internal, _ := json.Marshal(map[string]any{"name": name})
	meta, _ := json.Marshal(map[string]string{"terraform_run_id": "run-bulk"})
	now := b.now().UTC().Truncate(time.Second)
	const rows = 500
	for start := 0; start < n; start += 10 * rows {
		err := b.db.Tx(ctx, func(tx *store.Tx) error {
			for i := start; i < min(start+10*rows, n); i += rows {
				k := min(rows, n-i)
				args := make([]any, 0, 12*k)
				for j := i; j < i+k; j++ {
					id := fmt.Sprintf("%screds/%s/%08d", m.Path, name, j)
					sealed, err := b.seal.Encrypt(internal, "lease/"+id)
					if err != nil {
						return err
					}
					args = append(args, id, m.UUID, "creds/"+name, store.Nanos(now), store.Nanos(now.Add(ttl)), store.Nanos(now.Add(ttl)),
						1, sealed, string(meta), leaseActive, 0, 0)
				}
				q := `INSERT INTO leases (id, mount_uuid, path, issued_at, expires_at, max_expires_at, renewable, internal, meta, state, attempts, next_attempt) VALUES ` +
					strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", k), ", ")
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CountLeases counts the leases whose id starts with prefix, and of them
// the irrevocable ones.
func (b *Broker) CountLeases(ctx context.Context, prefix string) (all, irrevocable int64, err error) {
	cond, args := store.Prefix("id", prefix)
	err = b.db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0) FROM leases WHERE `+cond,
		append([]any{leaseIrrevocable}, args...)...).Scan(&all, &irrevocable)
	return all, irrevocable, err
}

// ClaimQuery is the statement that claims a page of leases and its
// arguments, for tests of its query plan.
func ClaimQuery(d store.Dialect, force bool, where, order string, args []any) (string, []any) {
	now := time.Now()
	return claimQuery(d, force, where, order, args, leasePage, now, now.Add(time.Minute))
}

// HeldClaims counts the claims on leases this node keeps in memory (on
// SQLite), lapsed or not.
func (b *Broker) HeldClaims() int {
	b.leases.mu.Lock()
	defer b.leases.mu.Unlock()
	return len(b.leases.held)
}
