package token_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
	"github.com/runcred/runcred/internal/token"
)

func TestCreateLookup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Unix(1_700_000_000, 0)
		s := token.NewStore(db, func() time.Time { return now })

		tok, e, err := s.Create(ctx, token.Entry{Policies: []string{"root"}, DisplayName: "root"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.RevealString(), token.Prefix) || len(tok.RevealString()) != len(token.Prefix)+24 {
			t.Fatalf("token shape %d chars", len(tok.RevealString()))
		}
		got, err := s.Lookup(ctx, tok)
		if err != nil || got.Accessor != e.Accessor || !got.Caller().IsRoot() {
			t.Fatalf("lookup: %+v %v", got, err)
		}

		// Denials: unknown, empty, over-long, almost-right, expired.
		short, _, err := s.Create(ctx, token.Entry{Policies: []string{"default"}, ExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		// The token with its last character changed (to "x", or "y" when
		// it already ends in "x": 1 in 62 tokens do).
		plain := tok.RevealString()
		last := "x"
		if strings.HasSuffix(plain, "x") {
			last = "y"
		}
		almost := plain[:len(plain)-1] + last
		for name, bad := range map[string]secret.Value{
			"unknown":  secret.FromString(token.Prefix + "AAAAAAAAAAAAAAAAAAAAAAAA"),
			"empty":    {},
			"too long": secret.FromString(strings.Repeat("a", token.MaxLen+1)),
			"almost":   secret.FromString(almost),
		} {
			if _, err := s.Lookup(ctx, bad); !fail.Is(err, fail.Unauthenticated) {
				t.Errorf("%s: got %v, want unauthenticated", name, err)
			}
		}
		if _, err := s.Lookup(ctx, short); err != nil {
			t.Fatalf("live short token: %v", err)
		}
		now = now.Add(time.Minute)
		if _, err := s.Lookup(ctx, short); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("expired token: got %v", err)
		}
	})
}

// TestTokenNeverStored looks for the token in every byte SQLite wrote and,
// on every database, in the whole text of every stored row. The accessor
// and display name, stored in plain, must be found: a scan that cannot see
// them could not see the token either.
func TestTokenNeverStored(t *testing.T) {
	ctx := context.Background()
	create := func(t *testing.T, db *store.DB) (tok secret.Value, e token.Entry) {
		s := token.NewStore(db, time.Now)
		tok, e, err := s.Create(ctx, token.Entry{Policies: []string{"root"}, DisplayName: "marker-display-7c41"})
		if err != nil {
			t.Fatal(err)
		}
		return tok, e
	}
	// secretParts are the token and its random part without the prefix.
	secretParts := func(tok secret.Value) []string {
		return []string{tok.RevealString(), strings.TrimPrefix(tok.RevealString(), token.Prefix)}
	}
	t.Run("sqlite files", func(t *testing.T) {
		path := storetest.SQLiteURL(t)
		db := storetest.Open(t, path)
		tok, e := create(t, db)
		all := string(storetest.SQLiteBytes(t, path))
		for _, plain := range []string{e.Accessor, "marker-display-7c41", e.ID()} {
			if !strings.Contains(all, plain) {
				t.Fatalf("the scan does not see %q, stored in plain; it would miss the token too", plain)
			}
		}
		for _, s := range secretParts(tok) {
			if strings.Contains(all, s) {
				t.Error("the token is stored in plain text")
			}
		}
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tok, e := create(t, db)
		rows, err := db.Query(ctx, `SELECT `+rowText(db)+` FROM tokens`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := store.Strings(rows)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(texts, "\n")
		if len(texts) != 1 || !strings.Contains(all, e.Accessor) || !strings.Contains(all, "marker-display-7c41") {
			t.Fatalf("the row scan does not see the stored row: %q", all)
		}
		for _, s := range secretParts(tok) {
			if strings.Contains(all, s) {
				t.Error("the token is stored in plain text")
			}
		}
	})
}

// rowText is an expression giving the whole of a tokens row as text.
func rowText(db *store.DB) string {
	if db.Dialect() == store.Postgres {
		return `tokens::text`
	}
	return `id || accessor || coalesce(parent_id, '') || policies || meta || display_name || path || type || bound_cidrs`
}

func TestFromHeader(t *testing.T) {
	for _, c := range []struct{ x, auth, want string }{
		{"hvs.a", "", "hvs.a"},
		{"", "Bearer hvs.b", "hvs.b"},
		{"hvs.a", "Bearer hvs.b", "hvs.a"},
		{"", "Basic abc", ""},
		{"", "", ""},
	} {
		if got := token.FromHeader(c.x, c.auth).RevealString(); got != c.want {
			t.Errorf("FromHeader(%q,%q) = %q", c.x, c.auth, got)
		}
	}
}

func TestLastUseEndsTheTokenAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := token.NewStore(db, time.Now)
		tok, e, err := s.Create(ctx, token.Entry{Policies: []string{"default"}, NumUses: 2})
		if err != nil {
			t.Fatal(err)
		}
		if left, err := s.Use(ctx, e); err != nil || left != 1 {
			t.Fatalf("first use: %d %v", left, err)
		}
		if left, err := s.Use(ctx, e); err != nil || left != 0 {
			t.Fatalf("last use: %d %v", left, err)
		}
		// Used up before it is revoked: no lookup, no further use, no child.
		if _, err := s.Lookup(ctx, tok); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("lookup of a used-up token: %v", err)
		}
		if _, err := s.Use(ctx, e); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("use of a used-up token: %v", err)
		}
		if _, _, err := s.Create(ctx, token.Entry{ParentID: e.ID()}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("child of a used-up token: %v", err)
		}
		// A revoked parent takes no children either.
		_, p, err := s.Create(ctx, token.Entry{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Revoke(ctx, p.ID(), false, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Create(ctx, token.Entry{ParentID: p.ID()}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("child of a revoked token: %v", err)
		}
	})
}
