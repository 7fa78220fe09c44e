package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

var testKey = secret.FromString("audit-test-hmac-key")

// clock returns a time source that steps one second per call.
func clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// seed appends n records with distinct bodies.
func seed(t *testing.T, l *Log, n int) []Record {
	t.Helper()
	var recs []Record
	for i := 1; i <= n; i++ {
		r, err := l.Append(context.Background(), "test.event", map[string]any{"n": i, "run": fmt.Sprintf("run-%d", i)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func verify(t *testing.T, l *Log) Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func count(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func seqs(recs []Record) []int64 {
	s := make([]int64, len(recs))
	for i, r := range recs {
		s[i] = r.Seq
	}
	return s
}

func TestAppendListTailVerify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db, testKey, clock())
		l.page = 2 // make Verify cross page boundaries

		rep := verify(t, l)
		if rep.Records != 0 || rep.Broken != nil || rep.Head != genesisHash {
			t.Fatalf("empty log: %+v", rep)
		}

		bodies := []any{
			map[string]any{"run": "run-1", "phase": "plan"},
			json.RawMessage(`{ "spaced" :  [1, 2, 3] }`),
			map[string]string{"html": "<a&b>", "unicode": "é\u2028✓"},
			nil,
			[]int{5},
		}
		wantBody := []string{
			`{"phase":"plan","run":"run-1"}`,
			`{"spaced":[1,2,3]}`,
			`{"html":"\u003ca\u0026b\u003e","unicode":"é\u2028✓"}`,
			`null`,
			`[5]`,
		}
		now := clock()
		var appended []Record
		for i, b := range bodies {
			r, err := l.Append(ctx, "identity.mint", b)
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			if r.Seq != int64(i+1) {
				t.Errorf("record %d: seq %d", i, r.Seq)
			}
			if want := now(); !r.Time.Equal(want) || r.Time.Location() != time.UTC {
				t.Errorf("record %d: time %v, want %v in UTC", i, r.Time, want)
			}
			if string(r.Body) != wantBody[i] {
				t.Errorf("record %d: body %s, want %s", i, r.Body, wantBody[i])
			}
			wantPrev := genesisHash
			if i > 0 {
				wantPrev = appended[i-1].Hash
			}
			if r.PrevHash != wantPrev || len(r.Hash) != 64 || r.Hash == wantPrev {
				t.Errorf("record %d: prev %s hash %s, want prev %s", i, r.PrevHash, r.Hash, wantPrev)
			}
			appended = append(appended, r)
		}

		rep = verify(t, l)
		if rep.Broken != nil || rep.Records != 5 || rep.Head != appended[4].Hash {
			t.Fatalf("report %+v, broken %+v; want 5 records, head %s", rep, rep.Broken, appended[4].Hash)
		}

		// What List returns is exactly what Append returned.
		all, err := l.List(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5 {
			t.Fatalf("List(0, 0) = %d records", len(all))
		}
		for i := range all {
			a, b := all[i], appended[i]
			if a.Seq != b.Seq || !a.Time.Equal(b.Time) || a.Time.Location() != time.UTC || a.Type != b.Type ||
				string(a.Body) != string(b.Body) || a.PrevHash != b.PrevHash || a.Hash != b.Hash {
				t.Errorf("stored record %d = %+v, appended %+v", i, a, b)
			}
		}

		for _, c := range []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 2, []int64{1, 2}},
			{2, 2, []int64{3, 4}},
			{4, 2, []int64{5}},
			{2, 100, []int64{3, 4, 5}},
			{5, 10, []int64{}},
			{-7, 1, []int64{1}},
		} {
			got, err := l.List(ctx, c.after, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seqs(got)) != fmt.Sprint(c.want) {
				t.Errorf("List(%d, %d) = %v, want %v", c.after, c.limit, seqs(got), c.want)
			}
		}
		for _, c := range []struct {
			n    int
			want []int64
		}{
			{0, []int64{}},
			{-1, []int64{}},
			{1, []int64{5}},
			{2, []int64{4, 5}},
			{5, []int64{1, 2, 3, 4, 5}},
			{50, []int64{1, 2, 3, 4, 5}},
		} {
			got, err := l.Tail(ctx, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seqs(got)) != fmt.Sprint(c.want) {
				t.Errorf("Tail(%d) = %v, want %v", c.n, seqs(got), c.want)
			}
		}
	})
}

func TestAppendRejectsBadType(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := New(db, testKey, nil)
		for _, typ := range []string{"identity.mint", "broker.request", "a-b_c.9", "z0", strings.Repeat("a", maxTypeLen)} {
			if _, err := l.Append(context.Background(), typ, 1); err != nil {
				t.Errorf("Append(%q): %v", typ, err)
			}
		}
		for _, typ := range []string{"", "Identity.mint", "has space", "a/b", "a\nb", "é", "`", "{", ":", strings.Repeat("a", maxTypeLen+1)} {
			_, err := l.Append(context.Background(), typ, 1)
			if !fail.Is(err, fail.Invalid) {
				t.Errorf("Append(%q) = %v, want invalid", typ, err)
			}
		}
		if n := count(t, db); n != 5 {
			t.Fatalf("%d records stored, want 5", n)
		}
	})
}

func TestVerifyFindsTampering(t *testing.T) {
	const n = 5
	cases := []struct {
		name   string
		want   int64 // the record tampered with
		reason string
		tamper func(t *testing.T, db *store.DB, recs []Record)
	}{
		{"body edited", 3, "contents", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `UPDATE audit_log SET body = ? WHERE seq = 3`, `{"n":99,"run":"run-3"}`)
		}},
		{"time edited", 3, "contents", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `UPDATE audit_log SET time = time + 1 WHERE seq = 3`)
		}},
		{"type edited", 4, "contents", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `UPDATE audit_log SET type = 'test.other' WHERE seq = 4`)
		}},
		{"middle row deleted", 3, "record 3 is missing", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 3`)
		}},
		{"two rows deleted", 2, "records 2 to 3 are missing", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 2`)
			exec(t, db, `DELETE FROM audit_log WHERE seq = 3`)
		}},
		{"first row deleted", 1, "record 1 is missing", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 1`)
		}},
		{"row rewritten with a consistent hash", 3, "rewritten", func(t *testing.T, db *store.DB, recs []Record) {
			r := recs[2]
			r.Body = json.RawMessage(`{"n":3,"run":"run-forged"}`)
			r.Hash = r.chainHash()
			if r.Hash == recs[2].Hash {
				t.Fatal("forged hash equals the original")
			}
			exec(t, db, `UPDATE audit_log SET body = ?, hash = ? WHERE seq = 3`, string(r.Body), r.Hash)
			// The forged row is self-consistent; only the next link exposes it.
			if got := check(&recs[1], &r); got != nil {
				t.Fatalf("forged row fails on its own: %+v", got)
			}
		}},
		{"stray record before the first", 0, "record 0 is out of sequence (expected 1)", func(t *testing.T, db *store.DB, recs []Record) {
			exec(t, db, `INSERT INTO audit_log (seq, time, type, body, prev_hash, hash) VALUES (0, 0, 'test.x', '{}', ?, ?)`, genesisHash, recs[0].Hash)
		}},
		{"genesis link edited", 1, "genesis", func(t *testing.T, db *store.DB, _ []Record) {
			exec(t, db, `UPDATE audit_log SET prev_hash = ? WHERE seq = 1`, strings.Repeat("f", 64))
		}},
		// Either side of a broken link may be the forgery, so the earlier
		// record is the first one the chain no longer vouches for.
		{"link edited", 3, "rewritten", func(t *testing.T, db *store.DB, recs []Record) {
			exec(t, db, `UPDATE audit_log SET prev_hash = ? WHERE seq = 4`, recs[0].Hash)
		}},
		{"two bodies swapped", 2, "contents", func(t *testing.T, db *store.DB, recs []Record) {
			exec(t, db, `UPDATE audit_log SET body = ? WHERE seq = 2`, string(recs[3].Body))
			exec(t, db, `UPDATE audit_log SET body = ? WHERE seq = 4`, string(recs[1].Body))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				l := New(db, testKey, clock())
				l.page = 2
				recs := seed(t, l, n)
				if rep := verify(t, l); rep.Broken != nil {
					t.Fatalf("broken before tampering: %+v", rep.Broken)
				}
				c.tamper(t, db, recs)
				rep := verify(t, l)
				if rep.Broken == nil {
					t.Fatalf("tampering not detected: %+v", rep)
				}
				if rep.Broken.Seq != c.want || !strings.Contains(rep.Broken.Reason, c.reason) {
					t.Fatalf("break at %d (%q), want %d (%q)", rep.Broken.Seq, rep.Broken.Reason, c.want, c.reason)
				}
				t.Logf("break at %d: %s", rep.Broken.Seq, rep.Broken.Reason)
			})
		})
	}
}

func exec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	res, err := db.Exec(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("%s: %d rows affected, err %v", q, n, err)
	}
}

func TestHMAC(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db, testKey, nil)
		const plain = "s.super-secret-token-value"
		v := secret.FromString(plain)

		h := l.HMAC(v)
		if !regexp.MustCompile(`^hmac-sha256:[0-9a-f]{64}$`).MatchString(h) {
			t.Fatalf("HMAC = %q", h)
		}
		if h2 := New(db, secret.FromString("audit-test-hmac-key"), nil).HMAC(secret.FromString(plain)); h2 != h {
			t.Errorf("same key and value: %s != %s", h2, h)
		}
		if h3 := New(db, secret.FromString("another-key"), nil).HMAC(v); h3 == h {
			t.Errorf("different keys give the same HMAC %s", h)
		}
		if h4 := l.HMAC(secret.FromString(plain + "x")); h4 == h {
			t.Errorf("different values give the same HMAC %s", h)
		}
		// RFC 4231 test case 2, also from a log whose hashes were used
		// before (they are kept for reuse).
		jefe := New(db, secret.FromString("Jefe"), nil)
		for i := range 3 {
			rfc := jefe.HMAC(secret.FromString("what do ya want for nothing?"))
			if want := "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; rfc != want {
				t.Errorf("RFC 4231 case 2, call %d: %s, want %s", i+1, rfc, want)
			}
			jefe.HMAC(secret.FromString(plain))
		}

		body := struct {
			TokenHMAC string       `json:"token_hmac"`
			Token     secret.Value `json:"token"`
			Nested    any          `json:"nested"`
		}{h, v, map[string]any{"deep": []secret.Value{v}}}
		if _, err := l.Append(ctx, "broker.response", body); err != nil {
			t.Fatal(err)
		}
		var typ, stored string
		if err := db.QueryRow(ctx, `SELECT type, body FROM audit_log WHERE seq = 1`).Scan(&typ, &stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, plain) || strings.Contains(typ, plain) {
			t.Fatalf("plain secret stored: %s", stored)
		}
		if !strings.Contains(stored, h) || strings.Count(stored, `"[redacted]"`) != 2 {
			t.Fatalf("stored body %s lacks the HMAC or the redactions", stored)
		}
	})
}

func TestNewRejectsEmptyKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New with an empty key did not panic")
		}
	}()
	New(nil, secret.Value{}, nil)
}

func TestAppendFailsClosed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db, testKey, nil)
		seed(t, l, 2)

		for _, body := range []any{make(chan int), func() {}, map[string]any{"f": 1i}} {
			if r, err := l.Append(ctx, "test.event", body); err == nil {
				t.Fatalf("Append(%T) = %+v, want error", body, r)
			}
		}
		if n := count(t, db); n != 2 {
			t.Fatalf("%d records after failed appends, want 2", n)
		}
		// The failures left no hole: the next record follows on.
		if r, err := l.Append(ctx, "test.event", 3); err != nil || r.Seq != 3 {
			t.Fatalf("append after failures: %+v, %v", r, err)
		}

		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := l.Append(canceled, "test.event", 4); err == nil {
			t.Fatal("Append with a canceled context succeeded")
		}

		db.Close()
		if r, err := l.Append(ctx, "test.event", 5); err == nil {
			t.Fatalf("Append on a closed database = %+v, want error", r)
		}
	})
}

// TestConcurrentAppendsAcrossNodes appends through two Logs on two handles of
// one database, as two server nodes would.
func TestConcurrentAppendsAcrossNodes(t *testing.T) {
	const goroutines, each = 8, 50
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			url := b.NewURL(t)
			logs := []*Log{
				New(storetest.Open(t, url), testKey, nil),
				New(storetest.Open(t, url), testKey, nil),
			}
			var wg sync.WaitGroup
			errs := make(chan error, goroutines*each)
			for g := range goroutines {
				wg.Go(func() {
					l := logs[g%2]
					for i := range each {
						if _, err := l.Append(ctx, "test.concurrent", map[string]int{"g": g, "i": i}); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			rep := verify(t, logs[0])
			if rep.Broken != nil || rep.Records != goroutines*each {
				t.Fatalf("report %+v, broken %+v; want %d intact records", rep, rep.Broken, goroutines*each)
			}
			seen := map[string]bool{}
			next := int64(1)
			for after := int64(0); ; {
				page, err := logs[1].List(ctx, after, 64)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, r := range page {
					if r.Seq != next {
						t.Fatalf("seq %d, want %d", r.Seq, next)
					}
					next++
					seen[string(r.Body)] = true
				}
				after = page[len(page)-1].Seq
			}
			if next-1 != goroutines*each || len(seen) != goroutines*each {
				t.Fatalf("last seq %d, %d distinct bodies; want %d of each", next-1, len(seen), goroutines*each)
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	open := func(b *testing.B) *Log {
		return New(storetest.Open(b, filepath.Join(b.TempDir(), "runcred.db")), testKey, nil)
	}
	body := map[string]string{"run": "run-abc123", "phase": "plan", "jti": "3f2a9c"}
	b.Run("sequential", func(b *testing.B) {
		l := open(b)
		for b.Loop() {
			if _, err := l.Append(context.Background(), "identity.mint", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := open(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Append(context.Background(), "identity.mint", body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestChainHashCoversEveryField checks that changing any field, or moving
// bytes from one field into its neighbour, changes the hash.
func TestChainHashCoversEveryField(t *testing.T) {
	base := Record{Seq: 7, Time: time.Unix(0, 1_700_000_000_123456789), Type: "ab", Body: json.RawMessage(`"c"`), PrevHash: genesisHash}
	variants := map[string]func(r *Record){
		"seq":                 func(r *Record) { r.Seq++ },
		"time":                func(r *Record) { r.Time = r.Time.Add(time.Nanosecond) },
		"type":                func(r *Record) { r.Type = "ac" },
		"body":                func(r *Record) { r.Body = json.RawMessage(`"d"`) },
		"prev_hash":           func(r *Record) { r.PrevHash = strings.Repeat("1", 64) },
		"type into body":      func(r *Record) { r.Type, r.Body = "a", json.RawMessage(`b"c"`) },
		"body into type":      func(r *Record) { r.Type, r.Body = `ab"`, json.RawMessage(`c"`) },
		"prev_hash into type": func(r *Record) { r.PrevHash, r.Type = genesisHash[:63], "0ab" },
	}
	want := base.chainHash()
	if base.chainHash() != want {
		t.Fatal("chainHash is not deterministic")
	}
	for name, change := range variants {
		r := base
		change(&r)
		if r.chainHash() == want {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}
