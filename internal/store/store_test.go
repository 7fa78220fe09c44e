package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func TestRebind(t *testing.T) {
	cases := []struct {
		d        store.Dialect
		in, want string
	}{
		{store.SQLite, "SELECT ? , ?", "SELECT ? , ?"},
		{store.Postgres, "SELECT ? , ?", "SELECT $1 , $2"},
		{store.Postgres, "SELECT 1", "SELECT 1"},
		{store.Postgres, "INSERT INTO t (a,b,c) VALUES (?,?,?)", "INSERT INTO t (a,b,c) VALUES ($1,$2,$3)"},
	}
	for _, c := range cases {
		if got := c.d.Rebind(c.in); got != c.want {
			t.Errorf("%v.Rebind(%q) = %q, want %q", c.d, c.in, got, c.want)
		}
	}
}

func TestConformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("migrations not recorded: n=%d err=%v", n, err)
		}

		// Driver errors come back as domain errors.
		insert := `INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, ?)`
		if _, err := db.Exec(ctx, insert, "a", []byte{1}, 1); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec(ctx, insert, "a", []byte{2}, 2)
		if !store.IsConflict(err) || fail.KindOf(err) != fail.Conflict {
			t.Fatalf("duplicate insert: got %v, want conflict", err)
		}
		var b []byte
		err = db.QueryRow(ctx, `SELECT sealed FROM secrets WHERE name = ?`, "missing").Scan(&b)
		if !store.IsNotFound(err) {
			t.Fatalf("missing row: got %v, want not found", err)
		}

		// A failed transaction leaves nothing behind.
		boom := errors.New("boom")
		err = db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, insert, "b", []byte{1}, 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx error = %v", err)
		}
		if err := db.QueryRow(ctx, `SELECT sealed FROM secrets WHERE name = ?`, "b").Scan(&b); !store.IsNotFound(err) {
			t.Fatalf("rolled-back row visible: %v", err)
		}

		// Lock serialises read-modify-write across concurrent transactions.
		if _, err := db.Exec(ctx, `INSERT INTO keyring (id, version, sealed, updated_at) VALUES (1, 0, ?, 0)`, []byte{0}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.Tx(ctx, func(tx *store.Tx) error {
					if err := tx.Lock(ctx, "counter"); err != nil {
						return err
					}
					var v int64
					if err := tx.QueryRow(ctx, `SELECT version FROM keyring WHERE id = 1`).Scan(&v); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE keyring SET version = ? WHERE id = 1`, v+1)
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var v int64
		if err := db.QueryRow(ctx, `SELECT version FROM keyring WHERE id = 1`).Scan(&v); err != nil || v != 20 {
			t.Fatalf("counter = %d (%v), want 20: lost updates", v, err)
		}
	})
}

// Reopening an existing database runs no migration twice.
func TestReopen(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			count := func(db *store.DB) (n int) {
				if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			first := count(storetest.Open(t, url))
			if again := count(storetest.Open(t, url)); again != first || first == 0 {
				t.Fatalf("schema_migrations rows: %d after first open, %d after reopen", first, again)
			}
		})
	}
}
