// Package storetest runs a test against every database runcred supports: a
// fresh SQLite file always, and a fresh PostgreSQL database whenever
// RUNCRED_TEST_POSTGRES_URL is set (CI sets it).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/runcred/runcred/internal/store"
)

// PostgresEnv names the variable holding a PostgreSQL URL with rights to create databases.
const PostgresEnv = "RUNCRED_TEST_POSTGRES_URL"

// Each runs fn as a subtest once per backend, each with its own empty database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Open(t, b.NewURL(t)))
		})
	}
}

// Backend makes fresh databases of one kind.
type Backend struct {
	Name   string
	NewURL func(t testing.TB) string // a new, empty database, dropped when t ends
}

// Backends lists SQLite and, when configured, PostgreSQL.
func Backends(t testing.TB) []Backend {
	bs := []Backend{{Name: "sqlite", NewURL: SQLiteURL}}
	if os.Getenv(PostgresEnv) != "" {
		bs = append(bs, Backend{Name: "postgres", NewURL: PostgresURL})
	}
	return bs
}

// Open opens url and closes it when t ends.
func Open(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SQLiteURL is a fresh SQLite file in t's temp dir.
func SQLiteURL(t testing.TB) string {
	return filepath.Join(t.TempDir(), "runcred.db")
}

// PostgresURL creates a fresh database on the server named by
// RUNCRED_TEST_POSTGRES_URL and drops it when t ends. It fails t when the
// variable is unset, so a test that asks for PostgreSQL cannot pass without it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Fatalf("%s is not set", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "runcred_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
