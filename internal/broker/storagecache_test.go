package broker_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/storagetest"
	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func openSeal(t *testing.T, db *store.DB) *seal.Seal {
	t.Helper()
	root, err := seal.GenerateRootKeyFile(filepath.Join(t.TempDir(), "root-key"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(context.Background(), db, root)
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// The storage contract holds with every key served from a node's cache.
func TestCachedStorageConformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		sl := openSeal(t, db)
		c := broker.NewNodeCache(time.Hour, clocktest.New(time.Now()).Now)
		n := 0
		storagetest.Run(t, func(*testing.T) engine.Storage {
			n++
			return broker.CachedMountStorage(db, sl, fmt.Sprintf("mount-%d", n), c, func(string) bool { return true })
		})
	})
}

// A node's cached values: its own writes (plain, in a transaction, deletes)
// are read back at once; another node's once the refresh interval has
// passed; keys the engine does not name cacheable always come from the
// database; a rolled-back transaction leaves the old value readable.
func TestCachedStorageInvalidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sl := openSeal(t, db)
		clock := clocktest.New(time.Now())
		cacheable := func(k string) bool { return strings.HasPrefix(k, "role/") }
		here := broker.CachedMountStorage(db, sl, "m1", broker.NewNodeCache(5*time.Second, clock.Now), cacheable)
		other := broker.CachedMountStorage(db, sl, "m1", broker.NewNodeCache(5*time.Second, clock.Now), cacheable)
		get := func(st engine.Storage, key string) string {
			t.Helper()
			v, err := st.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if v == nil {
				return "<none>"
			}
			return string(v)
		}
		put := func(st engine.Storage, key, value string) {
			t.Helper()
			if err := st.Put(ctx, key, []byte(value)); err != nil {
				t.Fatal(err)
			}
		}
		want := func(st engine.Storage, key, value, what string) {
			t.Helper()
			if got := get(st, key); got != value {
				t.Fatalf("%s: %s = %q, want %q", what, key, got, value)
			}
		}

		put(here, "role/a", "1")
		want(here, "role/a", "1", "first read")
		put(here, "role/a", "2")
		want(here, "role/a", "2", "own write")
		if err := here.Atomic(ctx, "l", func(tx engine.Storage) error { return tx.Put(ctx, "role/a", []byte("3")) }); err != nil {
			t.Fatal(err)
		}
		want(here, "role/a", "3", "own write in a transaction")
		boom := errors.New("boom")
		if err := here.Atomic(ctx, "l", func(tx engine.Storage) error {
			if err := tx.Put(ctx, "role/a", []byte("rolled back")); err != nil {
				return err
			}
			if got := get(tx, "role/a"); got != "rolled back" {
				t.Errorf("a transaction reads %q, not its own write", got)
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		want(here, "role/a", "3", "after a rollback")
		if err := here.Delete(ctx, "role/a"); err != nil {
			t.Fatal(err)
		}
		want(here, "role/a", "<none>", "own delete")

		// Another node's writes: seen here once the cached value is older
		// than the refresh interval, and at once for uncached keys.
		put(here, "role/b", "1")
		put(here, "jti/b", "1")
		want(here, "role/b", "1", "cached")
		want(here, "jti/b", "1", "uncached")
		put(other, "role/b", "2")
		put(other, "jti/b", "2")
		want(here, "role/b", "1", "another node's write within the refresh interval")
		want(here, "jti/b", "2", "another node's write of an uncached key")
		clock.Add(5 * time.Second)
		want(here, "role/b", "2", "another node's write after the refresh interval")
		if err := other.Delete(ctx, "role/b"); err != nil {
			t.Fatal(err)
		}
		clock.Add(5 * time.Second)
		want(here, "role/b", "<none>", "another node's delete after the refresh interval")

		// The same keys under another mount's uuid are that mount's.
		want(broker.CachedMountStorage(db, sl, "m2", broker.NewNodeCache(time.Hour, clock.Now), cacheable), "role/c", "<none>", "another mount")
	})
}
