// Package tools locates, for tests, what scripts/tools.sh installs into the
// repository's .tools directory: the peers' binaries (MinIO, OpenTofu,
// Terraform) and the providers' filesystem mirror. A missing tool fails
// the test rather than skipping it: a missing peer must not turn the suite
// green. RUNCRED_TOOLS_DIR names that directory for tests run from a copy of
// the tree that lacks it (mutation testing copies the module but not
// .tools, whose entries are links).
package tools

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Root walks up from the working directory, which go test sets to the
// package directory, to the directory holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Path is .tools/<rel> in the repository; the test fails if it is missing.
func Path(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("RUNCRED_TOOLS_DIR")
	if dir == "" {
		root, err := Root()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, ".tools")
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s missing (run scripts/tools.sh): %v", p, err)
	}
	return p
}

// OpenTofu returns the OpenTofu binary and the provider mirror.
func OpenTofu(t testing.TB) (bin, mirror string) {
	t.Helper()
	return Path(t, "bin/tofu"), Path(t, "providers")
}
