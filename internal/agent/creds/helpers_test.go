package creds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// countingMinter hands out distinct fake tokens naming their audience. The
// real mint is exercised by the broker and MinIO tests.
type countingMinter struct {
	mu        sync.Mutex
	audiences []string
	failOn    string // an audience to refuse
}

func (m *countingMinter) Mint(_ context.Context, aud string) (secret.Value, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if aud == m.failOn {
		return secret.Value{}, fmt.Errorf("mint refused")
	}
	m.audiences = append(m.audiences, aud)
	return secret.FromString(fmt.Sprintf("jwt.%d.%s", len(m.audiences), aud)), nil
}

func testRun() Run {
	return Run{ID: "run-X3n1AUXNGWbfECsJ", Organization: "demo", Project: "Default Project", Workspace: "ws1", Phase: jobapi.Plan}
}

func prepare(t *testing.T, env map[string]string, m Minter) (*Result, string, error) {
	t.Helper()
	dir := t.TempDir()
	r, err := Prepare(context.Background(), Config{Dir: dir, Env: env, Run: testRun(), Minter: m})
	if r != nil {
		t.Cleanup(func() { _ = r.Close(context.Background()) })
	}
	return r, dir, err
}

// readFile returns a file's content after checking it is a 0600 regular
// file directly inside dir.
func readFile(t *testing.T, dir, path string) string {
	t.Helper()
	if filepath.Dir(path) != dir {
		t.Fatalf("%s is not directly inside %s", path, dir)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: mode %v, want a regular 0600 file", path, fi.Mode())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dirEntries lists dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// hasSecret reports whether s is among the secrets handed to the redactor.
func hasSecret(r *Result, s string) bool {
	return slices.ContainsFunc(r.Secrets, func(v secret.Value) bool { return v.RevealString() == s })
}

// checkClosed closes r twice and checks that nothing is left in dir.
func checkClosed(t *testing.T, r *Result, dir string) {
	t.Helper()
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Fatalf("files left after Close: %v", left)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func mustContain(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not contain %q", err, w)
		}
	}
}
