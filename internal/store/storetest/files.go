package storetest

import (
	"os"
	"path/filepath"
	"testing"
)

// SQLiteBytes returns every byte SQLite wrote for the database file at path
// (the database, its WAL and shared memory), for tests that prove a value
// is never stored. It fails t when there is nothing to scan.
func SQLiteBytes(t testing.TB, path string) []byte {
	t.Helper()
	files, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatalf("no database files at %s", path)
	}
	return all
}
