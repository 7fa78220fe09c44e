package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/time/rate"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// countingEngine is a secrets engine whose upstream revocation only counts
// its calls, and fails for the names set failing: lease work at scale
// measured without an upstream, its calls counted apart.
type countingEngine struct {
	calls   atomic.Int64
	mu      sync.Mutex
	failing map[string]bool
	gate    chan struct{} // when set, each revocation waits for it to close
}

func (e *countingEngine) factory(context.Context, engine.MountConfig) (engine.Backend, error) {
	return e, nil
}

func (e *countingEngine) Routes() *engine.Routes { return engine.NewRoutes() }

func (e *countingEngine) Revoke(ctx context.Context, l engine.Lease) error {
	e.calls.Add(1)
	if e.gate != nil {
		<-e.gate
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failing[l.Internal["name"].(string)] {
		return errors.New("upstream throttled")
	}
	return nil
}

func (e *countingEngine) setFailing(name string, v bool) {
	e.mu.Lock()
	e.failing[name] = v
	e.mu.Unlock()
}

// startScale starts a broker with a counting engine mounted at "bulk/",
// unbounded upstream rate (the engine answers at once) and a 1 s backoff.
func startScale(t testing.TB, db *store.DB) (*server, *countingEngine) {
	t.Helper()
	e := &countingEngine{failing: map[string]bool{}}
	s := start(t, db, options{backoff: time.Second, rate: rate.Inf, engines: map[string]engine.Factory{"counting": e.factory}})
	if err := s.Client.Sys().Mount("bulk", &vault.MountInput{Type: "counting"}); err != nil {
		t.Fatal(err)
	}
	return s, e
}

// statementBound is what revoking or expiring n leases may cost in
// statements: a constant for the request and the set-up, and a constant
// per page (claim, audit append, delete or record failures), never one per
// lease.
func statementBound(n int) int64 {
	return 40 + 10*int64((n+broker.LeasePage-1)/broker.LeasePage)
}

// threePages is a number of leases that takes three pages, the last short.
const threePages = 2*broker.LeasePage + broker.LeasePage/5

// auditedLease is one lease named in a revocation's audit record.
type auditedLease struct{ reason, id string }

// auditedLeases lists the leases that the records of type typ name.
func auditedLeases(t *testing.T, s *server, typ string) []auditedLease {
	t.Helper()
	var out []auditedLease
	var after int64
	for {
		recs, err := s.Audit.List(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			after = r.Seq
			if r.Type != typ {
				continue
			}
			var body struct {
				Reason string `json:"reason"`
				Leases []struct {
					LeaseID string `json:"lease_id"`
				} `json:"leases"`
			}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			for _, l := range body.Leases {
				out = append(out, auditedLease{body.Reason, l.LeaseID})
			}
		}
	}
}

// revokedInAudit sums the leases that typ records with reason name,
// checking each names a lease under prefix.
func revokedInAudit(t *testing.T, s *server, typ, reason, prefix string) int {
	t.Helper()
	var n int
	for _, l := range auditedLeases(t, s, typ) {
		if l.reason != reason {
			continue
		}
		if !strings.HasPrefix(l.id, prefix) {
			t.Fatalf("%s record names %s, outside %s", typ, l.id, prefix)
		}
		n++
	}
	return n
}

const scaleN = 5000

// TestRevokePrefixIsSetBased: revoke-prefix of 5,000 leases revokes every
// one through its engine, audits every one, leaves the leases beside the
// prefix, runs a bounded number of statements, and keeps no claim in memory
// once done.
func TestRevokePrefixIsSetBased(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, e := startScale(t, db)
		if err := s.B.InsertLeases(ctx, "bulk/", "a", scaleN, time.Hour); err != nil {
			t.Fatal(err)
		}
		// Neighbours of the prefix "bulk/creds/a": ids that share its first
		// characters, or sort right after it.
		for _, name := range []string{"a0", "b", "a_"} {
			if err := s.B.InsertLeases(ctx, "bulk/", name, 3, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		before := db.Statements()
		if err := s.Client.Sys().RevokePrefix("bulk/creds/a"); err != nil { // a path prefix: not a0 or a_
			t.Fatal(err)
		}
		if n, bound := db.Statements()-before, statementBound(scaleN); n > bound {
			t.Errorf("revoke-prefix of %d leases ran %d statements, want at most %d", scaleN, n, bound)
		}
		if left, _, err := s.B.CountLeases(ctx, "bulk/creds/a/"); err != nil || left != 0 {
			t.Fatalf("%d leases left under the prefix (%v)", left, err)
		}
		for _, name := range []string{"a0", "b", "a_"} {
			if left, _, err := s.B.CountLeases(ctx, "bulk/creds/"+name+"/"); err != nil || left != 3 {
				t.Errorf("%d leases left of %s beside the prefix, want 3 (%v)", left, name, err)
			}
		}
		if got := e.calls.Load(); got != scaleN {
			t.Errorf("%d upstream revocations, want %d", got, scaleN)
		}
		if n := s.B.HeldClaims(); n != 0 {
			t.Errorf("%d claims still held after the revocation", n)
		}
		if got := revokedInAudit(t, s, "broker.lease.revoke", "revoke-prefix", "bulk/creds/a/"); got != scaleN {
			t.Errorf("%d revocations audited, want %d", got, scaleN)
		}
		if rep, err := s.Audit.Verify(ctx); err != nil || rep.Broken != nil {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// TestExpiryIsSetBased: one sweep revokes 5,000 expired leases, in a
// bounded number of statements, and leaves those not yet due.
func TestExpiryIsSetBased(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, e := startScale(t, db)
		if err := s.B.InsertLeases(ctx, "bulk/", "soon", scaleN, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.B.InsertLeases(ctx, "bulk/", "later", 7, time.Hour); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(2 * time.Minute)
		before := db.Statements()
		s.B.Sweep(ctx)
		if n, bound := db.Statements()-before, statementBound(scaleN); n > bound {
			t.Errorf("expiry of %d leases ran %d statements, want at most %d", scaleN, n, bound)
		}
		if left, _, err := s.B.CountLeases(ctx, "bulk/creds/soon/"); err != nil || left != 0 {
			t.Fatalf("%d expired leases left (%v)", left, err)
		}
		if left, _, err := s.B.CountLeases(ctx, "bulk/creds/later/"); err != nil || left != 7 {
			t.Fatalf("%d unexpired leases left, want 7 (%v)", left, err)
		}
		if got := e.calls.Load(); got != scaleN {
			t.Errorf("%d upstream revocations, want %d", got, scaleN)
		}
		if got := revokedInAudit(t, s, "broker.lease.revoke", "expired", "bulk/creds/soon/"); got != scaleN {
			t.Errorf("%d expiries audited, want %d", got, scaleN)
		}
	})
}

// TestFailedRevocationsAtScale: when the upstream refuses, revoke-prefix
// answers the failure and records every lease's attempt in bounded
// statements; the expiry task retries them with backoff until they are
// irrevocable (counted and listed); revoke-force then removes them all.
func TestFailedRevocationsAtScale(t *testing.T) {
	const n = threePages
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, e := startScale(t, db)
		e.setFailing("stuck", true)
		if err := s.B.InsertLeases(ctx, "bulk/", "stuck", n, time.Hour); err != nil {
			t.Fatal(err)
		}
		before := db.Statements()
		if err := s.Client.Sys().RevokePrefix("bulk/creds/stuck"); statusOf(err) != http.StatusBadRequest ||
			!strings.Contains(err.Error(), fmt.Sprintf("failed to revoke %d of %d leases", n, n)) {
			t.Fatalf("revoke-prefix with the upstream refusing: %v", err)
		}
		if got, bound := db.Statements()-before, statementBound(n); got > bound {
			t.Errorf("%d failed revocations ran %d statements, want at most %d", n, got, bound)
		}
		if got := revokedInAudit(t, s, "broker.lease.revoke-failed", "revoke-prefix", "bulk/creds/stuck/"); got != n {
			t.Errorf("%d failed revocations audited, want %d", got, n)
		}
		// The next attempt waits for its backoff: a sweep right away calls nothing.
		calls := e.calls.Load()
		s.B.Sweep(ctx)
		if e.calls.Load() != calls {
			t.Fatal("a failed revocation was retried before its backoff")
		}
		for range 10 {
			s.Clock.Add(10 * time.Minute) // past every backoff (1 s doubling, 6 attempts)
			s.B.Sweep(ctx)
		}
		if all, irr, err := s.B.CountLeases(ctx, "bulk/"); err != nil || all != n || irr != n {
			t.Fatalf("after the retries: %d leases, %d irrevocable, want %d of each (%v)", all, irr, n, err)
		}
		if got := e.calls.Load(); got != 6*n {
			t.Errorf("%d upstream calls, want %d (6 attempts each)", got, 6*n)
		}
		code, body := s.raw(t, "GET", "/v1/sys/leases?type=irrevocable&limit=5", s.Root, nil)
		var list struct {
			Data struct {
				Leases []struct {
					LeaseID string `json:"lease_id"`
					Error   string `json:"error"`
				} `json:"leases"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Data.Leases) != 5 ||
			list.Data.Leases[0].Error != "upstream throttled" || list.Data.Leases[0].LeaseID != "bulk/creds/stuck/00000000" {
			t.Fatalf("irrevocable list: %d %s", code, body)
		}
		code, body = s.raw(t, "GET", "/v1/sys/leases/count?type=irrevocable", s.Root, nil)
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"lease_count":%d`, n)) {
			t.Fatalf("irrevocable count: %d %s", code, body)
		}
		if err := s.Client.Sys().RevokeForce("bulk/creds/stuck"); err != nil {
			t.Fatal(err)
		}
		if all, _, err := s.B.CountLeases(ctx, "bulk/"); err != nil || all != 0 {
			t.Fatalf("%d leases after revoke-force (%v)", all, err)
		}
	})
}

// BenchmarkLeases100k times revoke-prefix of 100,000 live leases and the
// expiry of 100,000 due ones, on each database, with an engine whose
// upstream revocation only counts its calls (so the time is runcred's own;
// the calls are reported apart, as upstream-calls); -cpu-s is this
// process's CPU time meanwhile (on a busy machine the wall time waits for
// a core; on PostgreSQL the server's CPU is not in it). rss-MB is this whole
// process's peak resident set (VmHWM of /proc/self/status: server, client
// and the bulk insert together, an upper bound of the server's); heap-MB is
// runtime.MemStats.HeapSys at the end. Run with -benchtime=1x.
func BenchmarkLeases100k(b *testing.B) {
	const n = 100_000
	for _, be := range storetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			for range b.N {
				ctx := context.Background()
				db := storetest.Open(b, be.NewURL(b))
				s, e := startScale(b, db)
				if err := s.B.InsertLeases(ctx, "bulk/", "prefix", n, time.Hour); err != nil {
					b.Fatal(err)
				}
				stmts := db.Statements()
				t0, c0 := time.Now(), cpuTime(b)
				if err := s.Client.Sys().RevokePrefix("bulk/creds/prefix"); err != nil {
					b.Fatal(err)
				}
				revoke, revokeCPU := time.Since(t0), cpuTime(b)-c0
				revokeStmts := db.Statements() - stmts
				if err := s.B.InsertLeases(ctx, "bulk/", "expiry", n, time.Minute); err != nil {
					b.Fatal(err)
				}
				s.Clock.Add(2 * time.Minute)
				stmts = db.Statements()
				t0, c0 = time.Now(), cpuTime(b)
				s.B.Sweep(ctx)
				expiry, expiryCPU := time.Since(t0), cpuTime(b)-c0
				expiryStmts := db.Statements() - stmts
				if left, _, err := s.B.CountLeases(ctx, "bulk/"); err != nil || left != 0 {
					b.Fatalf("%d leases left (%v)", left, err)
				}
				if got := e.calls.Load(); got != 2*n {
					b.Fatalf("%d upstream calls, want %d", got, 2*n)
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(revoke.Seconds(), "revoke-prefix-s")
				b.ReportMetric(expiry.Seconds(), "expiry-s")
				b.ReportMetric(revokeCPU.Seconds(), "revoke-prefix-cpu-s")
				b.ReportMetric(expiryCPU.Seconds(), "expiry-cpu-s")
				b.ReportMetric(float64(e.calls.Load()), "upstream-calls")
				b.ReportMetric(float64(revokeStmts), "revoke-stmts")
				b.ReportMetric(float64(expiryStmts), "expiry-stmts")
				b.ReportMetric(float64(peakRSS(b))/(1<<20), "rss-MB")
				b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-MB")
			}
		})
	}
}

// cpuTime is the CPU time this process has used (user and system, every
// thread): on SQLite all of runcred's work, on PostgreSQL all but the
// database server's.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is this process's peak resident set in bytes (VmHWM).
func peakRSS(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestLeaseClaimsWriteNoIndex: on PostgreSQL, claiming a page of leases
// gives each row a new version beside the old one on its table page (a HOT
// update), so a claim adds no index entry. PostgreSQL's statistics show it
// once the broker's connections report them (within seconds). It needs a
// PostgreSQL server, which the suite has only when RUNCRED_TEST_POSTGRES_URL
// names one (CI sets it); SQLite rewrites a row in place and has no such
// update to check.
func TestLeaseClaimsWriteNoIndex(t *testing.T) {
	if os.Getenv(storetest.PostgresEnv) == "" {
		t.Skip("no PostgreSQL server to check: " + storetest.PostgresEnv + " is not set, and HOT updates are PostgreSQL's alone")
	}
	ctx := context.Background()
	db := storetest.Open(t, storetest.PostgresURL(t))
	s, _ := startScale(t, db)
	const n = 1200
	if err := s.B.InsertLeases(ctx, "bulk/", "a", n, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().RevokePrefix("bulk/creds/a"); err != nil {
		t.Fatal(err)
	}
	var updated, hot int64
	waitUntil(t, func() bool {
		if err := db.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'leases'`).Scan(&updated, &hot); err != nil {
			t.Fatal(err)
		}
		return updated >= n
	})
	if updated != n || hot != n {
		t.Fatalf("claiming %d leases updated %d rows, %d of them without an index entry (HOT); want %d and %d", n, updated, hot, n, n)
	}
}

// TestLeaseClaimsUseIndexes: the statement that claims a page finds its
// candidates through an index (and on PostgreSQL, where it writes them,
// its rows by id), on both databases, for every way leases are selected;
// a plan that reads the whole table or the whole due set per page would
// make revoking N leases cost N²/page.
func TestLeaseClaimsUseIndexes(t *testing.T) {
	prefix, prefixArgs := store.Prefix("id", "aws/creds/dev/")
	cases := []struct {
		where, order string
		args         []any
		sqlite, pg   string // the candidates' access path
	}{
		{prefix, "id", prefixArgs, "sqlite_autoindex_leases_1 (id>? AND id<?)", "Index Scan using leases_pkey on leases leases_1"},
		{`id = ?`, "id", []any{"x"}, "sqlite_autoindex_leases_1 (id=?)", "Index Scan using leases_pkey on leases leases_1"},
		{`mount_uuid = ?`, "id", []any{"m"}, "leases_mount (mount_uuid=?)", "leases_mount"},
		{`token_id IN (?, ?)`, "id", []any{"a", "b"}, "leases_token (token_id=?)", "leases_token"},
		{"1 = 1", "expires_at, id", nil, "leases_due (state=? AND expires_at<?)", "leases_due"},
		{"(expires_at, id) > (?, ?)", "expires_at, id", []any{1, "x"}, "leases_due (state=? AND (expires_at,id)>(?,?) AND expires_at<?)", "leases_due"},
		{prefix + " AND id > ?", "id", append(prefixArgs, "x"), "sqlite_autoindex_leases_1 (id>? AND id<?)", "Index Scan using leases_pkey on leases leases_1"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, c := range cases {
			q, args := broker.ClaimQuery(db.Dialect(), false, c.where, c.order, c.args)
			var plan []string
			err := db.Tx(ctx, func(tx *store.Tx) error {
				explain := "EXPLAIN QUERY PLAN "
				if db.Dialect() == store.Postgres {
					explain = "EXPLAIN "
					// An empty table is cheaper to read whole; the plan for a big one is wanted.
					if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
						return err
					}
				}
				rows, err := tx.Query(ctx, explain+q, args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						return err
					}
					plan = append(plan, fmt.Sprint(vals[len(vals)-1]))
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			want, byID := c.sqlite, "" // SQLite's claim reads the candidates only
			if db.Dialect() == store.Postgres {
				want, byID = c.pg, "Index Cond: (id = "
			}
			if !strings.Contains(text, want) || !strings.Contains(text, byID) || strings.Contains(text, "SCAN leases") ||
				strings.Contains(text, "Seq Scan") || strings.Count(text, "leases_due") > 1 {
				t.Errorf("claim where %s order by %s:\n%s\nwant candidates by %q and rows by id", c.where, c.order, text, want)
			}
		}
	})
}

// TestUpstreamRevocationsAreRateLimited: the rate limit is what lets an
// upstream call start. At a rate of next to nothing only the burst (as
// many as run at once, 8) is called; the limiter refuses the next call at
// once, since its wait would pass the sweep's deadline, and the leases it
// did not call stay as they were (no attempt counted), for later.
func TestUpstreamRevocationsAreRateLimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := &countingEngine{failing: map[string]bool{}}
		s := start(t, db, options{backoff: time.Second, rate: rate.Limit(1e-9), engines: map[string]engine.Factory{"counting": e.factory}})
		if err := s.Client.Sys().Mount("bulk", &vault.MountInput{Type: "counting"}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := s.B.InsertLeases(ctx, "bulk/", "paced", 20, time.Minute); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(2 * time.Minute)
		s.B.Sweep(ctx)
		if got := e.calls.Load(); got != 8 {
			t.Fatalf("%d upstream calls at a rate of next to nothing, want the burst of 8", got)
		}
		if all, irr, err := s.B.CountLeases(ctx, "bulk/"); err != nil || all != 12 || irr != 0 {
			t.Fatalf("%d leases left (%d irrevocable), want the 12 not called (%v)", all, irr, err)
		}
		if _, err := s.Client.Sys().Lookup("bulk/creds/paced/00000019"); err != nil {
			t.Fatalf("lookup of a lease the limit held back: %v", err)
		}
		if got := revokedInAudit(t, s, "broker.lease.revoke-failed", "expired", "bulk/"); got != 0 {
			t.Errorf("%d leases the limit held back recorded as failed", got)
		}
	})
}

// TestRevokePrefixRecordRefusedMidDrain: revoke-prefix over three pages,
// with the second page's record refused. The drain claims the third page
// while the second is settled, so that page is claimed but never revoked:
// the request fails; the first page is gone and recorded; nothing of the
// second and third is gone, and only the second was called upstream. Asked
// again once the log takes records, every lease is revoked and recorded
// exactly once, and the third page is called upstream only then.
func TestRevokePrefixRecordRefusedMidDrain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, e := startScale(t, db)
		const p = broker.LeasePage
		const n = 3 * p
		if err := s.B.InsertLeases(ctx, "bulk/", "a", n, time.Hour); err != nil {
			t.Fatal(err)
		}
		page2 := fmt.Sprintf(`/%08d"`, p) // the second page's first lease, as its record names it
		refuse := []string{`CREATE TRIGGER no_page2 BEFORE INSERT ON audit_log
			WHEN NEW.type = 'broker.lease.revoke' AND instr(NEW.body, '` + page2 + `') > 0
			BEGIN SELECT RAISE(ABORT, 'disk full'); END`}
		allow := []string{`DROP TRIGGER no_page2`}
		if db.Dialect() == store.Postgres {
			refuse = []string{
				`CREATE FUNCTION no_page2() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
					IF NEW.type = 'broker.lease.revoke' AND strpos(NEW.body, '` + page2 + `') > 0 THEN RAISE EXCEPTION 'disk full'; END IF;
					RETURN NEW; END $$`,
				`CREATE TRIGGER no_page2 BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION no_page2()`,
			}
			allow = []string{`DROP TRIGGER no_page2 ON audit_log`, `DROP FUNCTION no_page2()`}
		}
		for _, q := range refuse {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Client.Sys().RevokePrefix("bulk/creds/a"); err == nil {
			t.Fatal("revoke-prefix succeeded with a page's record refused")
		}
		count := func(lo, hi int) int64 { // leases left with ids in [lo, hi)
			var left int64
			for i := lo; i < hi; i += 100 {
				l, _, err := s.B.CountLeases(ctx, fmt.Sprintf("bulk/creds/a/%06d", i/100))
				if err != nil {
					t.Fatal(err)
				}
				left += l
			}
			return left
		}
		if a, b, c := count(0, p), count(p, 2*p), count(2*p, 3*p); a != 0 || b != p || c != p {
			t.Fatalf("leases left of the three pages: %d %d %d, want 0 %d %d", a, b, c, p, p)
		}
		if got := e.calls.Load(); got != 2*p {
			t.Fatalf("%d upstream revocations, want %d (the first two pages)", got, 2*p)
		}
		if got := revokedInAudit(t, s, "broker.lease.revoke", "revoke-prefix", "bulk/creds/a/"); got != p {
			t.Fatalf("%d revocations recorded, want the first page's %d", got, p)
		}
		for _, q := range allow {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Client.Sys().RevokePrefix("bulk/creds/a"); err != nil {
			t.Fatal(err)
		}
		if left := count(0, n); left != 0 {
			t.Fatalf("%d leases left after the second revoke-prefix", left)
		}
		if got := e.calls.Load(); got != n+p {
			t.Errorf("%d upstream revocations, want %d (the second page twice)", got, n+p)
		}
		revokedOnce(t, s, n)
		if rep, err := s.Audit.Verify(ctx); err != nil || rep.Broken != nil {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// TestDrainsClaimOnce: a revoke-prefix and the expiry task drain the same
// three pages of expired leases at once. The expiry task passes over the pages the
// revocation holds (each revocation is held at the upstream until both
// drains have pages in hand), so every lease is revoked upstream and
// recorded exactly once.
func TestDrainsClaimOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, e := startScale(t, db)
		const n = threePages
		if err := s.B.InsertLeases(ctx, "bulk/", "a", n, time.Minute); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(2 * time.Minute)
		drainTogether(t, e,
			func() error { return s.Client.Sys().RevokePrefix("bulk/creds/a") },
			func() error { s.B.Sweep(ctx); return nil })
		s.B.Sweep(ctx) // what either left to the other: none, if both finished their pages
		allRevokedOnce(t, s, e, n)
	})
}

// drainTogether runs first until its first page is at the upstream (the
// engine's gate holds each revocation there), then second until its first
// page is too, then lets both go, and returns once both have ended. Should
// either wait fail, the gate opens all the same, so that no revocation is
// left held and the server can stop.
func drainTogether(t *testing.T, e *countingEngine, first, second func() error) {
	t.Helper()
	e.gate = make(chan struct{})
	var open sync.Once
	defer open.Do(func() { close(e.gate) })
	done := make(chan error, 2)
	go func() { done <- first() }()
	waitUntil(t, func() bool { return e.calls.Load() == 8 }) // first's first page, at the upstream
	go func() { done <- second() }()
	waitUntil(t, func() bool { return e.calls.Load() == 16 }) // and second's
	open.Do(func() { close(e.gate) })
	deadline := time.After(time.Minute)
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatal("a drain did not end within a minute of the gate opening")
		}
	}
}

// allRevokedOnce checks that the n leases under bulk/creds/a/ are gone,
// each revoked upstream and recorded once.
func allRevokedOnce(t *testing.T, s *server, e *countingEngine, n int) {
	t.Helper()
	if got := e.calls.Load(); got != int64(n) {
		t.Errorf("%d upstream revocations of %d leases", got, n)
	}
	if left, _, err := s.B.CountLeases(context.Background(), "bulk/creds/a/"); err != nil || left != 0 {
		t.Errorf("%d leases left (%v)", left, err)
	}
	revokedOnce(t, s, n)
}

// revokedOnce checks that the broker.lease.revoke records name n leases in
// all, each once.
func revokedOnce(t *testing.T, s *server, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range auditedLeases(t, s, "broker.lease.revoke") {
		seen[l.id]++
	}
	if len(seen) != n {
		t.Errorf("%d leases recorded as revoked, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s recorded as revoked %d times", id, k)
		}
	}
}

// TestRevocationAskedAgainLeavesHeldPages: a revoke-prefix asked again while
// the first still revokes its pages makes due the leases in backoff, not
// those the first holds, so each lease is revoked and recorded once.
func TestRevocationAskedAgainLeavesHeldPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, e := startScale(t, db)
		const n = threePages
		if err := s.B.InsertLeases(ctx, "bulk/", "a", n, time.Hour); err != nil {
			t.Fatal(err)
		}
		revoke := func() error { return s.Client.Sys().RevokePrefix("bulk/creds/a") }
		drainTogether(t, e, revoke, revoke)
		allRevokedOnce(t, s, e, n)
	})
}
