package store_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestDurableTx: a durable transaction commits with an fsync (on SQLite,
// of the write-ahead log once the commit is in it; on PostgreSQL,
// synchronous_commit on, even where the database's default is off), and
// the writes around it keep their own setting (SQLite NORMAL, no fsync),
// also after a durable transaction that failed.
func TestDurableTx(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			url := be.NewURL(t)
			db := storetest.Open(t, url)
			if _, err := db.Exec(ctx, `CREATE TABLE durable_probe (id INTEGER PRIMARY KEY)`); err != nil {
				t.Fatal(err)
			}
			wantOther, wantDurable := "1", "1"
			var logSyncs []int // rows committed when each fsync of the log began
			if db.Dialect() == store.SQLite {
				store.SetWALSync(db, func(path string, fd int) error {
					if strings.HasSuffix(path, "-wal") {
						var n int
						if err := db.QueryRow(ctx, `SELECT count(*) FROM durable_probe`).Scan(&n); err != nil {
							t.Error(err)
						}
						logSyncs = append(logSyncs, n)
					}
					return store.Datasync(path, fd)
				})
			}
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
			n, rows := 0, 0
			plain := func() {
				t.Helper()
				syncs := len(logSyncs)
				if err := db.Tx(ctx, func(tx *store.Tx) error {
					n++
					rows++
					if _, err := tx.Exec(ctx, `INSERT INTO durable_probe (id) VALUES (?)`, rows); err != nil {
						return err
					}
					if got := durability(t, ctx, tx, db.Dialect(), n); got != wantOther {
						t.Errorf("plain transaction runs with %q, want %q", got, wantOther)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(logSyncs) != syncs {
					t.Errorf("a plain transaction fsynced the log")
				}
			}
			plain()
			for _, refuse := range []bool{false, true} {
				syncs := len(logSyncs)
				err := db.DurableTx(ctx, func(tx *store.Tx) error {
					n++
					if _, err := tx.Exec(ctx, `INSERT INTO durable_probe (id) VALUES (?)`, rows+1); err != nil {
						return err
					}
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
				if !refuse {
					rows++
				}
				if db.Dialect() == store.SQLite {
					switch {
					case refuse && len(logSyncs) != syncs:
						t.Errorf("a refused durable transaction fsynced the log")
					case !refuse && len(logSyncs) != syncs+1:
						t.Errorf("durable transaction: %d fsyncs of the log, want 1", len(logSyncs)-syncs)
					case !refuse && logSyncs[syncs] != rows:
						t.Errorf("the log was fsynced with %d rows committed, before the durable commit (%d)", logSyncs[syncs], rows)
					}
				}
				plain()
			}
		})
	}
}

// TestDurableTxSyncFails: on SQLite, a failed fsync of the log fails the
// durable transaction that waited for it, and every durable transaction
// after it (the kernel may have dropped what it could not write); plain
// transactions go on.
func TestDurableTxSyncFails(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, storetest.SQLiteURL(t))
	broken := true
	store.SetWALSync(db, func(path string, fd int) error {
		if broken && strings.HasSuffix(path, "-wal") {
			return errors.New("injected EIO")
		}
		return store.Datasync(path, fd)
	})
	noop := func(*store.Tx) error { return nil }
	for i := range 2 {
		if err := db.DurableTx(ctx, noop); err == nil || !strings.Contains(err.Error(), "injected EIO") {
			t.Fatalf("durable transaction %d with the fsync failing: %v, want the fsync's error", i, err)
		}
		broken = false // the failure stands all the same
	}
	if err := db.Tx(ctx, noop); err != nil {
		t.Fatalf("plain transaction after a failed fsync: %v", err)
	}
}

// TestDurableTxGroupsFsyncs: on SQLite, durable transactions that commit
// while an fsync of the log is under way share the next one, and each
// returns only after an fsync that began once it had committed.
func TestDurableTxGroupsFsyncs(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, storetest.SQLiteURL(t))
	if _, err := db.Exec(ctx, `CREATE TABLE durable_probe (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	const others = 8
	var (
		mu       sync.Mutex
		done     []int // for each fsync of the log that returned, the highest id committed when it began
		syncs    int
		released = make(chan struct{})
	)
	store.SetWALSync(db, func(path string, fd int) error {
		if !strings.HasSuffix(path, "-wal") {
			return store.Datasync(path, fd)
		}
		var top int
		if err := db.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM durable_probe`).Scan(&top); err != nil {
			t.Error(err)
		}
		mu.Lock()
		syncs++
		first := syncs == 1
		mu.Unlock()
		if first {
			close(released) // let the others commit while this fsync is under way
			deadline := time.Now().Add(time.Minute)
			for store.WALWaiting(db) < 1+others {
				if time.Now().After(deadline) {
					t.Errorf("the other durable transactions never asked for an fsync")
					break
				}
				runtime.Gosched()
			}
		}
		err := store.Datasync(path, fd)
		mu.Lock()
		done = append(done, top)
		mu.Unlock()
		return err
	})
	insert := func(id int) {
		t.Helper()
		err := db.DurableTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO durable_probe (id) VALUES (?)`, id)
			return err
		})
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.ContainsFunc(done, func(top int) bool { return top >= id }) {
			t.Errorf("durable transaction %d returned before an fsync that began after its commit (fsyncs done: %v)", id, done)
		}
	}
	var wg sync.WaitGroup
	first := make(chan struct{})
	wg.Go(func() { insert(1); close(first) })
	select {
	case <-released:
	case <-first:
		t.Fatal("the first durable transaction returned without an fsync of the log")
	}
	for i := range others {
		wg.Go(func() { insert(2 + i) })
	}
	wg.Wait()
	if syncs != 2 {
		t.Errorf("%d durable transactions took %d fsyncs of the log, want 2 (the first, and one for the %d that committed during it)", 1+others, syncs, others)
	}
}
