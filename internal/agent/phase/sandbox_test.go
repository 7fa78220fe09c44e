//go:build linux

package phase

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
)

func newSandbox(t *testing.T) *Sandbox {
	t.Helper()
	s, err := NewSandbox(SandboxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSandboxProbe: the probe runs a command in the sandbox and sees it
// there, as PID 1 and the run's user.
func TestSandboxProbe(t *testing.T) {
	s := newSandbox(t)
	if err := s.Probe(context.Background(), "/bin/true"); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxProbeFails: a sandbox that cannot start is reported, with
// what bubblewrap said.
func TestSandboxProbeFails(t *testing.T) {
	script := filepath.Join(t.TempDir(), "bwrap")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := NewSandbox(SandboxConfig{Bwrap: script})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Probe(context.Background(), "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "No permissions to create new namespace") {
		t.Fatalf("err = %v, want bubblewrap's own message", err)
	}
}

// TestSandboxedHookSeesOnlyItsRun: a hook in the sandbox runs (its marker
// is in the log) and finds nothing of the host: a canary file beside the
// run, another run's directory, the agent's /proc; what it writes outside
// the run directory does not reach the host.
func TestSandboxedHookSeesOnlyItsRun(t *testing.T) {
	tmp := tmpRoot(t)
	secretDir := t.TempDir()
	canaryFile := filepath.Join(secretDir, "canary")
	if err := os.WriteFile(canaryFile, []byte(canary+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(tmp, "runcred-run-other")
	if err := os.Mkdir(other, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "state"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	escape := filepath.Join(secretDir, "escaped")
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-pre-plan": `echo MARKER-RAN uid=$(id -u) pid=$$
cat ` + canaryFile + ` 2>&1
cat ` + other + `/state 2>&1
ls ` + tmp + ` 2>&1
tr '\0' ' ' < /proc/1/cmdline; echo
ls /proc | grep -c '^[0-9]'
echo x > ` + escape + ` 2>&1 || echo WRITE-REFUSED
echo x > /tmp/escaped && echo TMP-WRITE-OK
pwd
exit 1`}, &l)
	s.Sandbox = newSandbox(t)
	_, err := Run(context.Background(), s)
	if err == nil {
		t.Fatal("the hook's exit 1 did not fail the phase")
	}
	t.Log(strings.Join(l.all(), "\n"))
	if !l.has("MARKER-RAN") {
		t.Fatalf("the hook did not run:\n%s", strings.Join(l.all(), "\n"))
	}
	l.noneContain(t, canary)
	if !l.has("WRITE-REFUSED") || !l.has("TMP-WRITE-OK") {
		t.Errorf("writes: want refused outside, allowed in the private /tmp:\n%s", strings.Join(l.all(), "\n"))
	}
	if _, err := os.Stat(escape); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the hook wrote %s on the host (%v)", escape, err)
	}
	want := "uid=" + map[bool]string{true: "65534", false: ""}[os.Geteuid() == 0]
	if !l.has(want) || !l.has("pid=1") {
		t.Errorf("want %s pid=1 in the log", want)
	}
	if err := os.RemoveAll(other); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, tmp)
}
