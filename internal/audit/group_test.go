package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// queued waits until n records wait for the next group.
func queued(t *testing.T, l *Log, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		got := len(l.queue)
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type appended struct {
	rec Record
	err error
}

// appendWhileHeld starts one Append per body while the writer is held, and
// returns their results once the writer is released and all are settled.
func appendWhileHeld(t *testing.T, l *Log, typs []string) []appended {
	t.Helper()
	return whileHeld(t, l, len(typs), func(i int) (Record, error) {
		return l.Append(context.Background(), typs[i], map[string]int{"i": i})
	})
}

// whileHeld runs append(0) … append(n-1), each in its own goroutine, while
// the writer is held, and returns their results once the writer is
// released and all are settled.
func whileHeld(t *testing.T, l *Log, n int, append func(i int) (Record, error)) []appended {
	t.Helper()
	l.writer <- struct{}{} // as if another group were being written
	out := make([]appended, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := append(i)
			out[i] = appended{r, err}
		})
	}
	queued(t, l, n)
	<-l.writer
	wg.Wait()
	return out
}

// TestAppendsWaitingTogetherShareOneCommit: records queued while a group
// is being written go out together in the next one (one transaction: one
// time), each its own chain step, and each caller gets its own record.
func TestAppendsWaitingTogetherShareOneCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := New(db, testKey, clock())
		seed(t, l, 1)
		got := appendWhileHeld(t, l, []string{"test.a", "test.a", "test.a", "test.a", "test.a"})
		seqs := map[int64]bool{}
		for i, a := range got {
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.rec.Time != got[0].rec.Time {
				t.Errorf("record %d written at %v, record 0 at %v: not one group", i, a.rec.Time, got[0].rec.Time)
			}
			if want := fmt.Sprintf(`{"i":%d}`, i); string(a.rec.Body) != want {
				t.Errorf("caller %d got body %s, want %s", i, a.rec.Body, want)
			}
			seqs[a.rec.Seq] = true
		}
		stored, err := l.List(context.Background(), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(seqs) != 5 || len(stored) != 5 {
			t.Fatalf("%d distinct seqs handed out, %d stored; want 5 of each", len(seqs), len(stored))
		}
		for _, s := range stored {
			var mine *Record
			for _, a := range got {
				if a.rec.Seq == s.Seq {
					mine = &a.rec
				}
			}
			if mine == nil || mine.Hash != s.Hash || string(mine.Body) != string(s.Body) {
				t.Errorf("stored record %d (%s) is not what its caller got (%+v)", s.Seq, s.Body, mine)
			}
		}
		if rep := verify(t, l); rep.Broken != nil || rep.Records != 6 {
			t.Fatalf("report %+v, broken %+v", rep, rep.Broken)
		}
	})
}

// TestRefusedRecordFailsOnlyItsCaller: when the database refuses one record
// of a group, the others are still written (one at a time) and only its
// caller gets the error; the chain has no hole.
func TestRefusedRecordFailsOnlyItsCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		refuse(t, db, "test.refused")
		l := New(db, testKey, clock())
		got := appendWhileHeld(t, l, []string{"test.a", "test.refused", "test.a", "test.a"})
		for i, a := range got {
			if (i == 1) != (a.err != nil) {
				t.Errorf("append %d: %v", i, a.err)
			}
		}
		if rep := verify(t, l); rep.Broken != nil || rep.Records != 3 {
			t.Fatalf("report %+v, broken %+v; want 3 intact records", rep, rep.Broken)
		}
	})
}

// TestAppendFailsForAllWhenTheLogIsDown: with the log refusing everything,
// every caller of a group gets an error.
func TestAppendFailsForAllWhenTheLogIsDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		refuse(t, db, "test.a")
		l := New(db, testKey, clock())
		for i, a := range appendWhileHeld(t, l, []string{"test.a", "test.a", "test.a"}) {
			if a.err == nil {
				t.Errorf("append %d succeeded with the log refusing it: %+v", i, a.rec)
			}
		}
		if n := count(t, db); n != 0 {
			t.Fatalf("%d records, want 0", n)
		}
	})
}

// TestAppendAllCommitsWithItsWrite: what AppendAll writes commits in its
// records' transaction. A write that fails refuses its records and only
// those; a record the log refuses takes its write with it; the others of
// the group keep both.
func TestAppendAllCommitsWithItsWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `CREATE TABLE issued (n INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		refuse(t, db, "test.refused")
		l := New(db, testKey, clock())
		errWrite := errors.New("write refused")
		typs := []string{"test.a", "test.a", "test.refused", "test.a"}
		got := whileHeld(t, l, len(typs), func(i int) (Record, error) {
			recs, err := l.AppendAll(ctx, []Entry{{typs[i], map[string]int{"i": i}}}, func(ctx context.Context, tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO issued (n) VALUES (?)`, i); err != nil {
					return err
				}
				if i == 1 {
					return errWrite
				}
				return nil
			})
			if err != nil {
				return Record{}, err
			}
			return recs[0], nil
		})
		for i, a := range got {
			switch {
			case i == 1 && !errors.Is(a.err, errWrite):
				t.Errorf("append 1, whose write failed: %v, want the write's error", a.err)
			case i == 2 && a.err == nil:
				t.Errorf("append 2, refused by the log, succeeded")
			case i != 1 && i != 2 && a.err != nil:
				t.Errorf("append %d: %v", i, a.err)
			}
		}
		rows, err := db.Query(ctx, `SELECT n FROM issued ORDER BY n`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var written []int
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			written = append(written, n)
		}
		if fmt.Sprint(written) != "[0 3]" {
			t.Errorf("rows written %v, want [0 3]: those of the records committed, no other", written)
		}
		if rep := verify(t, l); rep.Broken != nil || rep.Records != 2 {
			t.Fatalf("report %+v, broken %+v; want 2 intact records", rep, rep.Broken)
		}
	})
}

// refuse makes the database refuse records of type typ, as a full disk would.
func refuse(t *testing.T, db *store.DB, typ string) {
	t.Helper()
	stmts := []string{fmt.Sprintf(`CREATE TRIGGER refuse BEFORE INSERT ON audit_log
		WHEN NEW.type = '%s' BEGIN SELECT RAISE(ABORT, 'disk full'); END`, typ)}
	if db.Dialect() == store.Postgres {
		stmts = []string{
			fmt.Sprintf(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.type = '%s' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$`, typ),
			`CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()`,
		}
	}
	for _, q := range stmts {
		if _, err := db.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAppendBeforeJoinsTheChain: a record appended without waiting for the
// disk is committed and chained like any other, and a durable record that
// shares its group makes the group durable (both are written together).
func TestAppendBeforeJoinsTheChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db, testKey, clock())
		r1, err := l.AppendBefore(ctx, "test.request", 1)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := l.Append(ctx, "test.response", 2)
		if err != nil {
			t.Fatal(err)
		}
		if r1.Seq != 1 || r2.Seq != 2 || r2.PrevHash != r1.Hash {
			t.Fatalf("records %+v, %+v do not chain", r1, r2)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := l.AppendBefore(canceled, "test.request", 3); err == nil {
			t.Fatal("AppendBefore with a canceled context succeeded")
		}
		if rep := verify(t, l); rep.Broken != nil || rep.Records != 2 {
			t.Fatalf("report %+v, broken %+v", rep, rep.Broken)
		}
	})
}
