package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// durability reads, inside tx, the setting that decides whether its commit
// waits for the disk: SQLite's synchronous (1 NORMAL, 2 FULL) or
// PostgreSQL's synchronous_commit. The query text differs every time:
// SQLite answers a PRAGMA when it is prepared, and the store keeps prepared
// statements.
func durability(t *testing.T, ctx context.Context, tx *store.Tx, d store.Dialect, n int) string {
	t.Helper()
	q := fmt.Sprintf(`PRAGMA synchronous -- %d`, n)
	if d == store.Postgres {
		q = fmt.Sprintf(`SHOW synchronous_commit -- %d`, n)
	}
	var v string
	if err := tx.QueryRow(ctx, q).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDurableTx: a durable transaction commits with an fsync (SQLite FULL;
// PostgreSQL synchronous_commit on, even where the database's default is
// off), and the writes around it keep their own setting (SQLite NORMAL),
// also after a durable transaction that failed.
func TestDurableTx(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			url := be.NewURL(t)
			db := storetest.Open(t, url)
			wantOther, wantDurable := "1", "2"
			if db.Dialect() == store.Postgres {
				var name string
				if err := db.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %q SET synchronous_commit = off`, name)); err != nil {
					t.Fatal(err)
				}
				db = storetest.Open(t, url) // new connections: the default is now off
				wantOther, wantDurable = "off", "on"
			}
			n := 0
			plain := func() {
				t.Helper()
				if err := db.Tx(ctx, func(tx *store.Tx) error {
					n++
					if got := durability(t, ctx, tx, db.Dialect(), n); got != wantOther {
						t.Errorf("plain transaction runs with %q, want %q", got, wantOther)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			plain()
			for _, refuse := range []bool{false, true} {
				err := db.DurableTx(ctx, func(tx *store.Tx) error {
					n++
					if got := durability(t, ctx, tx, db.Dialect(), n); got != wantDurable {
						t.Errorf("durable transaction runs with %q, want %q", got, wantDurable)
					}
					if refuse {
						return errors.New("refused")
					}
					return nil
				})
				if refuse != (err != nil) {
					t.Fatalf("DurableTx (refused %v): %v", refuse, err)
				}
				plain()
			}
		})
	}
}
