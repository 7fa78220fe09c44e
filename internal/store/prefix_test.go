package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// prefixCases hold the characters a naive prefix match gets wrong: LIKE's
// wildcards and escape, the neighbours of "/" and the runes at the edges of
// UTF-8's ranges (the last rune before the surrogates, the last rune of all).
var prefixValues = []string{
	"", "a", "a/", "a/b", "a0", "a.", "a%", "a_", "a_b", "a\\", "aa", "b", "a/é", "a/\u00ff", "a/\ud7ff", "a/\ud7ffx",
	"a/\ue000", "a/\U0010ffff", "a/\U0010ffffx", "\U0010ffff", "\U0010ffff\U0010ffff", "é", "ée",
}

func TestPrefixMatchesStartsWith(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `CREATE TABLE prefix_test (v TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		if db.Dialect() == store.Postgres {
			if _, err := db.Exec(ctx, `ALTER TABLE prefix_test ALTER COLUMN v TYPE TEXT COLLATE "C"`); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range prefixValues {
			if _, err := db.Exec(ctx, `INSERT INTO prefix_test (v) VALUES (?)`, v); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range append(prefixValues, "a/\U0010ffff\U0010ffff", "\xff") {
			cond, args := store.Prefix("v", p)
			rows, err := db.Query(ctx, `SELECT v FROM prefix_test WHERE `+cond+` ORDER BY v`, args...)
			if err != nil {
				t.Fatalf("prefix %q: %v", p, err)
			}
			got, err := store.Strings(rows)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, v := range prefixValues {
				if strings.HasPrefix(v, p) && utf8.ValidString(p) {
					want = append(want, v)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("prefix %q: got %q, want %q", p, got, want)
			}
		}
	})
}

// FuzzPrefix holds the range Prefix builds to strings.HasPrefix, comparing
// as both databases do (bytes, which is code point order for UTF-8).
func FuzzPrefix(f *testing.F) {
	for _, v := range prefixValues {
		f.Add(v, "a/b")
	}
	f.Fuzz(func(t *testing.T, prefix, v string) {
		if !utf8.ValidString(v) {
			return // stored text is valid UTF-8
		}
		_, args := store.Prefix("v", prefix)
		in := len(args) > 0 && v >= args[0].(string) && (len(args) < 2 || v < args[1].(string))
		if want := utf8.ValidString(prefix) && strings.HasPrefix(v, prefix); in != want {
			t.Fatalf("prefix %q, value %q: in range %v, starts with %v (args %q)", prefix, v, in, want, args)
		}
	})
}
