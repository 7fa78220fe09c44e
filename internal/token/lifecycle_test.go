package token_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
	"github.com/runcred/runcred/internal/token"
)

// clock is a settable time source for the store.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_700_000_000, 0).UTC()} }
func mustCreate(t *testing.T, s *token.Store, e token.Entry) token.Entry {
	t.Helper()
	_, got, err := s.Create(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestEntryRoundTrip stores every field and reads each one back unchanged.
func TestEntryRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		s := token.NewStore(db, c.now)
		parent := mustCreate(t, s, token.Entry{Policies: []string{"default"}})
		want := token.Entry{
			ParentID: parent.ID(), Policies: []string{"a", "b"}, Meta: map[string]string{"run": "run-1"},
			DisplayName: "jwt-app", Path: "auth/jwt/login",
			ExpiresAt: c.t.Add(time.Hour), MaxExpiresAt: c.t.Add(2 * time.Hour),
			TTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour, Period: 90 * time.Second, NumUses: 3, Renewable: true,
			BoundCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		}
		tok, e, err := s.Create(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != "service" || e.CreatedAt != c.t || len(e.Accessor) != 24 || e.ID() == "" || e.Orphan() {
			t.Fatalf("created entry %+v", e)
		}
		for name, lookup := range map[string]func() (token.Entry, error){
			"token":    func() (token.Entry, error) { return s.Lookup(ctx, tok) },
			"accessor": func() (token.Entry, error) { return s.LookupAccessor(ctx, e.Accessor) },
			"id":       func() (token.Entry, error) { return s.LookupID(ctx, e.ID()) },
		} {
			got, err := lookup()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.ID() != e.ID() || got.Accessor != e.Accessor || got.ParentID != parent.ID() || got.Orphan() ||
				!slices.Equal(got.Policies, want.Policies) || got.Meta["run"] != "run-1" || len(got.Meta) != 1 ||
				got.DisplayName != want.DisplayName || got.Path != want.Path || !got.CreatedAt.Equal(c.t) ||
				!got.ExpiresAt.Equal(want.ExpiresAt) || !got.MaxExpiresAt.Equal(want.MaxExpiresAt) ||
				got.TTL != want.TTL || got.ExplicitMaxTTL != want.ExplicitMaxTTL || got.Period != want.Period ||
				got.NumUses != 3 || !got.Renewable || got.Type != "service" || !got.LastRenewal.IsZero() ||
				!slices.Equal(got.BoundCIDRs, want.BoundCIDRs) {
				t.Fatalf("%s: read back %+v, want %+v", name, got, want)
			}
			if cl := got.Caller(); cl.Accessor != e.Accessor || cl.DisplayName != "jwt-app" || !slices.Equal(cl.Policies, want.Policies) || cl.Meta["run"] != "run-1" {
				t.Fatalf("%s: caller %+v", name, cl)
			}
		}

		// The zero values read back as zero: an orphan, no expiry, not
		// renewable, no binding, an empty (not nil) meta map.
		_, z, err := s.Create(ctx, token.Entry{Type: "batch"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.LookupID(ctx, z.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Orphan() || got.ParentID != "" || !got.ExpiresAt.IsZero() || !got.MaxExpiresAt.IsZero() || got.Renewable ||
			got.BoundCIDRs != nil || got.Meta == nil || len(got.Meta) != 0 || got.Type != "batch" || got.NumUses != 0 {
			t.Fatalf("zero entry read back as %+v", got)
		}

		// Unknown and malformed accessors and ids are one refusal.
		for _, f := range []func() (token.Entry, error){
			func() (token.Entry, error) { return s.LookupAccessor(ctx, "") },
			func() (token.Entry, error) { return s.LookupAccessor(ctx, "nope") },
			func() (token.Entry, error) { return s.LookupAccessor(ctx, strings.Repeat("a", token.MaxLen+1)) },
			func() (token.Entry, error) { return s.LookupID(ctx, "nope") },
		} {
			if _, err := f(); !fail.Is(err, fail.Unauthenticated) {
				t.Errorf("got %v, want unauthenticated", err)
			}
		}
	})
}

// TestExpiryEdges: a token is refused from the second its TTL ends, by
// lookup, by Live and by a child's creation; Expired and Accessors agree.
func TestExpiryEdges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		s := token.NewStore(db, c.now)
		tok, e, err := s.Create(ctx, token.Entry{Policies: []string{"default"}, ExpiresAt: c.t.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		forever := mustCreate(t, s, token.Entry{})
		live := func(id string) bool {
			t.Helper()
			var ok bool
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				var err error
				ok, err = token.Live(ctx, tx, id, c.now())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return ok
		}
		c.add(time.Minute - time.Second)
		if _, err := s.Lookup(ctx, tok); err != nil || !live(e.ID()) || !live(forever.ID()) {
			t.Fatalf("one second before expiry: %v live=%v", err, live(e.ID()))
		}
		if ids, err := s.Expired(ctx, 10); err != nil || len(ids) != 0 {
			t.Fatalf("expired before its time: %v %v", ids, err)
		}
		if acc, err := s.Accessors(ctx); err != nil || !slices.Equal(acc, sorted(e.Accessor, forever.Accessor)) {
			t.Fatalf("accessors %v %v", acc, err)
		}
		c.add(time.Second)
		if _, err := s.Lookup(ctx, tok); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("lookup at expiry: %v", err)
		}
		if live(e.ID()) || !live(forever.ID()) || live("missing") {
			t.Fatal("Live at expiry: expired token live, or live token not")
		}
		if _, _, err := s.Create(ctx, token.Entry{ParentID: e.ID()}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("child of an expired token: %v", err)
		}
		if ids, err := s.Expired(ctx, 10); err != nil || !slices.Equal(ids, []string{e.ID()}) {
			t.Fatalf("expired %v %v", ids, err)
		}
		if ids, err := s.Expired(ctx, 0); err != nil || len(ids) != 0 {
			t.Fatalf("expired with limit 0: %v %v", ids, err)
		}
		if acc, err := s.Accessors(ctx); err != nil || !slices.Equal(acc, []string{forever.Accessor}) {
			t.Fatalf("accessors after expiry %v %v", acc, err)
		}
	})
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// TestUseCounts: an unlimited token is never touched; a limited one counts
// down to its last use.
func TestUseCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := token.NewStore(db, time.Now)
		free := mustCreate(t, s, token.Entry{})
		for range 3 {
			if left, err := s.Use(ctx, free); err != nil || left != -1 {
				t.Fatalf("use of an unlimited token: %d %v", left, err)
			}
		}
		if got, err := s.LookupID(ctx, free.ID()); err != nil || got.NumUses != 0 {
			t.Fatalf("unlimited token after use: %+v %v", got, err)
		}
		three := mustCreate(t, s, token.Entry{NumUses: 3})
		for want := 2; want >= 0; want-- {
			left, err := s.Use(ctx, three)
			if err != nil || left != want {
				t.Fatalf("use: %d %v, want %d", left, err, want)
			}
			got, err := s.LookupID(ctx, three.ID())
			if want > 0 && (err != nil || got.NumUses != want) {
				t.Fatalf("after use: %+v %v", got, err)
			}
		}
	})
}

// TestRenew covers the TTL a renewal grants and the caps on it.
func TestRenew(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		s := token.NewStore(db, c.now)
		check := func(e token.Entry, inc time.Duration, want time.Duration) {
			t.Helper()
			got, err := s.Renew(ctx, e, inc)
			if err != nil {
				t.Fatalf("renew: %v", err)
			}
			if !got.ExpiresAt.Equal(c.t.Add(want)) || !got.LastRenewal.Equal(c.t) {
				t.Fatalf("renewed to %v (last %v), want %v", got.ExpiresAt, got.LastRenewal, c.t.Add(want))
			}
			stored, err := s.LookupID(ctx, e.ID())
			if err != nil || !stored.ExpiresAt.Equal(got.ExpiresAt) || !stored.LastRenewal.Equal(c.t) {
				t.Fatalf("stored after renew: %+v %v", stored, err)
			}
		}
		plain := mustCreate(t, s, token.Entry{Renewable: true, TTL: time.Hour, ExpiresAt: c.t.Add(time.Hour)})
		c.add(10 * time.Minute)
		check(plain, 5*time.Minute, 5*time.Minute) // the increment asked for
		check(plain, 0, time.Hour)                 // none asked: its creation TTL
		check(plain, -time.Minute, time.Hour)      // a negative one is none

		periodic := mustCreate(t, s, token.Entry{Renewable: true, TTL: time.Hour, Period: 2 * time.Minute, ExpiresAt: c.t.Add(time.Minute)})
		check(periodic, time.Hour, 2*time.Minute) // the period, whatever is asked

		capped := mustCreate(t, s, token.Entry{Renewable: true, TTL: time.Hour, ExpiresAt: c.t.Add(time.Hour), MaxExpiresAt: c.t.Add(30 * time.Minute)})
		check(capped, time.Hour, 30*time.Minute)
		check(capped, 29*time.Minute, 29*time.Minute) // under the cap: as asked
		c.add(30 * time.Minute)
		if _, err := s.Renew(ctx, capped, time.Hour); !fail.Is(err, fail.Invalid) {
			t.Fatalf("renewal at the cap: %v", err)
		}

		if _, err := s.Renew(ctx, mustCreate(t, s, token.Entry{TTL: time.Hour, ExpiresAt: c.t.Add(time.Hour)}), 0); !fail.Is(err, fail.Invalid) {
			t.Fatalf("renewal of a non-renewable token: %v", err)
		}
		never := mustCreate(t, s, token.Entry{Renewable: true})
		if got, err := s.Renew(ctx, never, time.Hour); err != nil || !got.ExpiresAt.IsZero() || !got.LastRenewal.IsZero() {
			t.Fatalf("renewal of a non-expiring token: %+v %v", got, err)
		}
	})
}

// TestRevoke: revocation takes every descendant, or with orphan only the
// token itself; onGone sees exactly the tokens removed, and its error
// undoes the whole revocation.
func TestRevoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := token.NewStore(db, time.Now)
		tree := func() (root, child, grandchild, other token.Entry) {
			root = mustCreate(t, s, token.Entry{})
			child = mustCreate(t, s, token.Entry{ParentID: root.ID()})
			grandchild = mustCreate(t, s, token.Entry{ParentID: child.ID()})
			other = mustCreate(t, s, token.Entry{})
			return
		}
		exists := func(e token.Entry) bool {
			_, err := s.LookupID(ctx, e.ID())
			return err == nil
		}

		root, child, grandchild, other := tree()
		var seen []string
		gone, err := s.Revoke(ctx, root.ID(), false, func(tx *store.Tx, id string) error { seen = append(seen, id); return nil })
		want := []string{root.ID(), child.ID(), grandchild.ID()}
		if err != nil || !slices.Equal(gone, want) || !slices.Equal(seen, want) {
			t.Fatalf("revoke: gone %v seen %v err %v, want %v", gone, seen, err, want)
		}
		if exists(root) || exists(child) || exists(grandchild) || !exists(other) {
			t.Fatal("revocation left a descendant or took an unrelated token")
		}
		if gone, err := s.Revoke(ctx, root.ID(), false, nil); err != nil || len(gone) != 0 {
			t.Fatalf("second revoke: %v %v", gone, err)
		}

		root, child, grandchild, _ = tree()
		if gone, err := s.Revoke(ctx, root.ID(), true, nil); err != nil || !slices.Equal(gone, []string{root.ID()}) {
			t.Fatalf("orphan revoke: %v %v", gone, err)
		}
		got, err := s.LookupID(ctx, child.ID())
		if err != nil || !got.Orphan() || !exists(grandchild) {
			t.Fatalf("orphaned child: %+v %v", got, err)
		}

		root, child, _, _ = tree()
		if _, err := s.Revoke(ctx, root.ID(), false, func(tx *store.Tx, id string) error {
			if id == child.ID() {
				return fail.Unavailablef("queue full")
			}
			return nil
		}); err == nil {
			t.Fatal("revoke succeeded although onGone failed")
		}
		if !exists(root) || !exists(child) {
			t.Fatal("a failed revocation removed tokens")
		}
	})
}

// TestListings: IDsByPath matches a path prefix; Empty tells a first start.
func TestListings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := token.NewStore(db, time.Now)
		if empty, err := s.Empty(ctx); err != nil || !empty {
			t.Fatalf("empty store: %v %v", empty, err)
		}
		jwt := mustCreate(t, s, token.Entry{Path: "auth/jwt/login"})
		mustCreate(t, s, token.Entry{Path: "auth/jwt2/login"})
		mustCreate(t, s, token.Entry{Path: "auth/token/create"})
		if empty, err := s.Empty(ctx); err != nil || empty {
			t.Fatalf("store with tokens: %v %v", empty, err)
		}
		if ids, err := s.IDsByPath(ctx, "auth/jwt/"); err != nil || !slices.Equal(ids, []string{jwt.ID()}) {
			t.Fatalf("ids under auth/jwt/: %v %v", ids, err)
		}
		if ids, err := s.IDsByPath(ctx, "auth/"); err != nil || len(ids) != 3 {
			t.Fatalf("ids under auth/: %v %v", ids, err)
		}
	})
}

func TestAllowedFrom(t *testing.T) {
	free := token.Entry{}
	bound := token.Entry{BoundCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}}
	for _, c := range []struct {
		e    token.Entry
		addr string
		want bool
	}{
		{free, "203.0.113.9", true},
		{bound, "10.1.2.3", true},
		{bound, "192.0.2.7", true},
		{bound, "::ffff:10.1.2.3", true}, // IPv4-mapped: the same address
		{bound, "10.2.0.1", false},
		{bound, "192.0.2.8", false},
	} {
		if got := c.e.AllowedFrom(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("AllowedFrom(%s) with %v = %v", c.addr, c.e.BoundCIDRs, got)
		}
	}
}

// TestRandom: ids have the asked length and use the whole alphabet.
func TestRandom(t *testing.T) {
	seen := map[rune]bool{}
	for range 200 {
		s := token.Random(24)
		if len(s) != 24 {
			t.Fatalf("Random(24) = %q", s)
		}
		for _, r := range s {
			seen[r] = true
		}
	}
	if len(seen) != 62 {
		t.Fatalf("%d distinct characters in 4800 draws, want all 62", len(seen))
	}
	if token.Random(24) == token.Random(24) {
		t.Fatal("two random ids are equal")
	}
}
