package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// Prepared statements are shared by transactions and plain calls from many
// goroutines at once; on SQLite a transaction holds the only write
// connection, so a statement first seen inside one must not be prepared
// there (that would wait for the connection forever). The test runs a mix
// of both concurrently and fails if it does not finish.
func TestStatementsUnderConcurrentTransactions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < 50; i++ {
						name := "stmt-test"
						err := db.Tx(ctx, func(tx *store.Tx) error {
							var n int
							if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM secrets WHERE name = ?`, name).Scan(&n); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, `INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, ?)
								ON CONFLICT (name) DO UPDATE SET created_at = excluded.created_at`, name, []byte("x"), i)
							return err
						})
						if err != nil {
							t.Error(err)
							return
						}
						if _, err := db.Exec(ctx, `UPDATE secrets SET created_at = ? WHERE name = ?`, g, name); err != nil {
							t.Error(err)
							return
						}
						var n int
						if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM secrets WHERE name = ?`, name).Scan(&n); err != nil || n != 1 {
							t.Errorf("count %d, %v", n, err)
							return
						}
					}
				}(g)
			}
			wg.Wait()
		}()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("transactions and plain statements deadlocked")
		}
	})
}
