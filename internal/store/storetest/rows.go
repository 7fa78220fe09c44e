package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/store"
)

// PostgresRows returns the text of every row of every table of db, a
// PostgreSQL database, for tests that prove a value is never stored: the
// PostgreSQL counterpart of SQLiteBytes. It fails t when there is nothing
// to scan.
func PostgresRows(t testing.TB, db *store.DB) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := store.Strings(rows)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, table := range tables {
		rows, err := db.Query(ctx, `SELECT r::text FROM "`+table+`" r`)
		if err != nil {
			t.Fatal(err)
		}
		texts, err := store.Strings(rows)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, texts...)
	}
	if len(all) == 0 {
		t.Fatal("no rows in the database")
	}
	return strings.Join(all, "\n")
}

// Everything is every byte of db as SQLiteBytes or PostgresRows finds it;
// path is the URL db was opened with.
func Everything(t testing.TB, db *store.DB, path string) string {
	t.Helper()
	if db.Dialect() == store.Postgres {
		return PostgresRows(t, db)
	}
	return string(SQLiteBytes(t, path))
}
