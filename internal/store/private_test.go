package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/runcred/runcred/internal/store"
)

// TestSQLiteFilesPrivate: the database and its -wal and -shm are 0600
// whatever the umask (0 here, under which SQLite alone makes them 0644),
// and a database an earlier version left 0644 is tightened when opened.
// Not parallel: the umask is the process's.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "runcred.db")

	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE probe (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO probe (v) VALUES ('sealed')`); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, path, path+"-wal", path+"-shm") // open: -wal and -shm exist
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// As an earlier version left them: 0644 (an empty -wal and -shm are
	// what SQLite treats as none).
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(ctx, `SELECT v FROM probe`).Scan(&v); err != nil || v != "sealed" {
		t.Fatalf("reopened database: %q, %v", v, err)
	}
	wantPrivate(t, path, path+"-wal", path+"-shm")
}

func wantPrivate(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
