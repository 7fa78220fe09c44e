package daemon_test

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDataFilesPrivate: every file a server writes into its data directory
// (the database and its -wal and -shm, the root key, the root token) is
// 0600 even under umask 0. Not parallel: the umask is the process's.
func TestDataFilesPrivate(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	n := startNode(t, nil)
	// A write, so the WAL is in use.
	if code := n.call(t, "PUT", "/v1/sys/policies/acl/probe", map[string]any{"policy": `path "x" { capabilities = ["read"] }`}, nil); code != 204 {
		t.Fatalf("policy write: HTTP %d", code)
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		seen[d.Name()] = true
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", d.Name(), fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"runcred.db", "runcred.db-wal", "runcred.db-shm", "root-key", "root-token"} {
		if !seen[name] {
			t.Errorf("%s not found: the test would not notice its mode", name)
		}
	}
}
