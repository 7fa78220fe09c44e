package audit

import (
	"context"
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
	l.writer <- struct{}{} // as if another group were being written
	out := make([]appended, len(typs))
	var wg sync.WaitGroup
	for i, typ := range typs {
		wg.Go(func() {
			r, err := l.Append(context.Background(), typ, map[string]int{"i": i})
			out[i] = appended{r, err}
		})
	}
	queued(t, l, len(typs))
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
