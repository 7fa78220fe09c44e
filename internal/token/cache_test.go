package token_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
	"github.com/runcred/runcred/internal/token"
)

func create(t *testing.T, s *token.Store, e token.Entry) (secret.Value, token.Entry) {
	t.Helper()
	tok, got, err := s.Create(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return tok, got
}

func lookupOK(t *testing.T, s *token.Store, tok secret.Value, what string) token.Entry {
	t.Helper()
	e, err := s.Lookup(context.Background(), tok)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return e
}

func lookupRefused(t *testing.T, s *token.Store, tok secret.Value, what string) {
	t.Helper()
	if e, err := s.Lookup(context.Background(), tok); err == nil {
		t.Fatalf("%s: token accepted: %+v", what, e)
	}
}

// TestCachedLookupOnTwoNodes runs two cached Stores on one database, as two
// server nodes: a change made through one store is seen by it at once, and
// by the other once its cached copy is older than the refresh interval.
func TestCachedLookupOnTwoNodes(t *testing.T) {
	const refresh = 5 * time.Second
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		a := token.NewStore(db, c.now).Cached(refresh)
		b := token.NewStore(db, c.now).Cached(refresh)

		tok, e := create(t, a, token.Entry{Policies: []string{"default"}, ExpiresAt: c.t.Add(time.Hour)})
		lookupOK(t, a, tok, "node a, first")
		lookupOK(t, b, tok, "node b, first")
		// The database alone no longer vouches for it: both nodes answer
		// from their caches.
		if _, err := db.Exec(ctx, `UPDATE tokens SET policies = '["edited"]' WHERE id = ?`, e.ID()); err != nil {
			t.Fatal(err)
		}
		if got := lookupOK(t, b, tok, "node b, cached"); got.Policies[0] != "default" {
			t.Fatalf("node b read the database again within the refresh interval: %v", got.Policies)
		}

		if _, err := a.Revoke(ctx, e.ID(), false, nil); err != nil {
			t.Fatal(err)
		}
		lookupRefused(t, a, tok, "node a, right after its own revoke")
		lookupOK(t, b, tok, "node b, within the refresh interval") // allowed staleness
		c.add(refresh)
		lookupRefused(t, b, tok, "node b, one refresh interval after the revoke")

		// Renewed on b: a's cached copy has expired by then, so a reads again.
		tok2, e2 := create(t, a, token.Entry{Policies: []string{"default"}, ExpiresAt: c.t.Add(time.Second), TTL: time.Minute, Renewable: true})
		lookupOK(t, a, tok2, "node a, before the renewal")
		if _, err := b.Renew(ctx, e2, time.Minute); err != nil {
			t.Fatal(err)
		}
		c.add(2 * time.Second)
		if got := lookupOK(t, a, tok2, "node a, after b renewed"); !got.ExpiresAt.After(c.t) {
			t.Fatalf("node a sees expiry %v at %v", got.ExpiresAt, c.t)
		}
	})
}

// TestCachedRevokeAndOrphan: revoking a parent drops its cached children at
// once; orphaning them shows them without a parent at once.
func TestCachedRevokeAndOrphan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		s := token.NewStore(db, c.now).Cached(time.Hour)
		_, p := create(t, s, token.Entry{Policies: []string{"default"}})
		ctok, _ := create(t, s, token.Entry{Policies: []string{"default"}, ParentID: p.ID()})
		if e := lookupOK(t, s, ctok, "child"); e.ParentID != p.ID() {
			t.Fatalf("child's parent %q", e.ParentID)
		}
		if _, err := s.Revoke(ctx, p.ID(), true, nil); err != nil {
			t.Fatal(err)
		}
		if e := lookupOK(t, s, ctok, "child after its parent was revoked with orphan"); e.ParentID != "" {
			t.Fatalf("orphaned child still shows parent %q", e.ParentID)
		}

		_, p2 := create(t, s, token.Entry{Policies: []string{"default"}})
		ctok2, _ := create(t, s, token.Entry{Policies: []string{"default"}, ParentID: p2.ID()})
		lookupOK(t, s, ctok2, "second child")
		if _, err := s.Revoke(ctx, p2.ID(), false, nil); err != nil {
			t.Fatal(err)
		}
		lookupRefused(t, s, ctok2, "child after its parent was revoked")

		// A use-limited token is never answered from the cache.
		ltok, _ := create(t, s, token.Entry{Policies: []string{"default"}, NumUses: 1})
		le := lookupOK(t, s, ltok, "use-limited")
		if left, err := s.Use(ctx, le); err != nil || left != 0 {
			t.Fatalf("use: %d, %v", left, err)
		}
		lookupRefused(t, s, ltok, "use-limited token after its last use")
	})
}

// TestRevokeUnderLoad looks a token up from many goroutines while it is
// revoked: no lookup that starts after Revoke returned may succeed, however
// the lookups that read the database before the revocation fill the cache.
func TestRevokeUnderLoad(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := token.NewStore(db, nil).Cached(time.Hour)
		for round := range 20 {
			tok, e := create(t, s, token.Entry{Policies: []string{"default"}})
			var revoked atomic.Bool
			var late, early, refused atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						after := revoked.Load()
						_, err := s.Lookup(ctx, tok)
						if err == nil && after {
							late.Add(1)
						}
						if err == nil && !after {
							early.Add(1)
						}
						if err != nil && after {
							refused.Add(1)
						}
					}
				})
			}
			// Revoke once the hammering goroutines are seen succeeding, and
			// stop once they have been refused many times after it.
			waitFor(t, func() bool { return early.Load() >= 50 })
			if _, err := s.Revoke(ctx, e.ID(), false, nil); err != nil {
				t.Fatal(err)
			}
			revoked.Store(true)
			waitFor(t, func() bool { return refused.Load() >= 200 })
			close(stop)
			wg.Wait()
			if n := late.Load(); n != 0 {
				t.Fatalf("round %d: %d lookups started after Revoke returned succeeded", round, n)
			}
		}
	})
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}
