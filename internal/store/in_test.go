package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func TestInSelectsTheListedValues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `CREATE TABLE in_test (v TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"a", "b", "c", "d"} {
			if _, err := db.Exec(ctx, `INSERT INTO in_test (v) VALUES (?)`, v); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range [][]string{nil, {"a"}, {"b", "d"}, {"a", "b", "c", "d"}} {
			cond, args := store.In("v", append(want, "zz"))
			if want == nil {
				cond, args = store.In("v", nil)
			}
			rows, err := db.Query(ctx, `SELECT v FROM in_test WHERE `+cond+` ORDER BY v`, args...)
			if err != nil {
				t.Fatalf("%v: %v", want, err)
			}
			got, err := store.Strings(rows)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("In(%q) selected %q", want, got)
			}
		}
	})
}
