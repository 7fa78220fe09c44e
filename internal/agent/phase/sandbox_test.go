//go:build linux

package phase

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
// there, in a PID namespace of its own and as the run's user.
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
grep -E '^(NoNewPrivs|CapEff|CapPrm):' /proc/self/status
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
	// No capability, and none to gain.
	for _, w := range []string{"NoNewPrivs:\t1", "CapEff:\t0000000000000000", "CapPrm:\t0000000000000000"} {
		if !l.has(w) {
			t.Errorf("the hook's status lacks %q:\n%s", w, strings.Join(l.all(), "\n"))
		}
	}
	want := "uid=" + map[bool]string{true: "65534", false: ""}[os.Geteuid() == 0]
	if !l.has(want) || !l.has("pid=2") {
		t.Errorf("want %s pid=2 (the first child of the sandbox's init) in the log", want)
	}
	if err := os.RemoveAll(other); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, tmp)
}

// TestSandboxedEtcIsReadOnly: the files of /etc the sandbox copies show
// the host's content, and the run can neither change them nor add
// anything beside them or at the sandbox's root, while its private /tmp
// stays writable.
func TestSandboxedEtcIsReadOnly(t *testing.T) {
	tmpRoot(t)
	// The files of etcFiles this host has are the ones copied; every
	// Linux host has some (hosts, resolv.conf).
	var copied, sums []string
	for _, f := range etcFiles {
		if data, ok := etcCopy(f); ok {
			copied = append(copied, f)
			sums = append(sums, fmt.Sprintf("SUM %x  %s", sha256.Sum256(data), f))
		}
	}
	if len(copied) == 0 {
		t.Fatalf("none of %q is a regular file on this host", etcFiles)
	}
	files := strings.Join(copied, " ")
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-pre-plan": `echo MARKER-RAN
for f in ` + files + ` /etc/passwd /etc/group; do echo "MODE $f $(stat -c %a "$f")"; done
sha256sum ` + files + ` | sed 's/^/SUM /'
grep -c '^run:' /etc/passwd | sed 's/^/RUN-USERS /'
for f in ` + files + `; do echo x >> "$f" && echo "ETC-APPEND-OK $f"; chmod 666 "$f" && echo "ETC-CHMOD-OK $f"; done
rm -f ` + copied[0] + `; [ -e ` + copied[0] + ` ] || echo ETC-RM-OK
echo x > /etc/new && echo ETC-CREATE-OK
mkdir /new && echo ROOT-MKDIR-OK
echo x > /tmp/ok && echo TMP-WRITE-OK
exit 1`}, &l)
	s.Sandbox = newSandbox(t)
	if _, err := Run(context.Background(), s); err == nil {
		t.Fatal("the hook's exit 1 did not fail the phase")
	}
	if !l.has("MARKER-RAN") {
		t.Fatalf("the hook did not run:\n%s", strings.Join(l.all(), "\n"))
	}
	want := append(sums, "MODE /etc/passwd 444", "MODE /etc/group 444", "RUN-USERS 1", "TMP-WRITE-OK")
	for _, f := range copied {
		want = append(want, "MODE "+f+" 444")
	}
	for _, w := range want {
		if !l.has(w) {
			t.Errorf("the log lacks %q:\n%s", w, strings.Join(l.all(), "\n"))
		}
	}
	l.noneContain(t, "ETC-APPEND-OK", "ETC-CHMOD-OK", "ETC-RM-OK", "ETC-CREATE-OK", "ROOT-MKDIR-OK")
}

// TestSandboxedCancelEndsEverything: canceling a phase whose hook started
// a background process ends the hook and that process: nothing of the run
// outlives it.
func TestSandboxedCancelEndsEverything(t *testing.T) {
	tmp := tmpRoot(t)
	lines := make(chan string, 16)
	s := Spec{
		Phase: jobapi.Plan, Binary: "/bin/false", ConfigDir: "testdata/basic",
		HooksDir: hooks(t, map[string]string{"terraform-pre-plan": "sleep 987 & echo started; wait"}),
		Log:      func(l string) { lines <- l },
		Sandbox:  newSandbox(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := Run(ctx, s); done <- err }()
	waitLine(t, lines, "started")
	deadline := time.Now().Add(30 * time.Second)
	for sleepers(t, "987") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d background sleeps running, want the hook's one", sleepers(t, "987"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for sleepers(t, "987") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hook's background process outlived the phase")
		}
		time.Sleep(20 * time.Millisecond)
	}
	assertEmpty(t, tmp)
}

// sleepers counts the host's processes running `sleep <arg>`.
func sleepers(t *testing.T, arg string) int {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && string(b) == "sleep\x00"+arg+"\x00" {
			n++
		}
	}
	return n
}

// TestSandboxedHookNeedsRunUserAccess: under a root agent the hooks run as
// the run's user; a hook only root can read is refused with what to do.
// Otherwise the run keeps the agent's user and the hook runs.
func TestSandboxedHookNeedsRunUserAccess(t *testing.T) {
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-pre-plan": "echo HOOK-RAN"}, &l)
	if err := os.Chmod(filepath.Join(s.HooksDir, "terraform-pre-plan"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.Sandbox = newSandbox(t)
	_, err := Run(context.Background(), s)
	if os.Geteuid() == 0 {
		if err == nil || !strings.Contains(err.Error(), "readable and executable by the runs' user (uid 65534)") || l.has("HOOK-RAN") {
			t.Fatalf("err = %v, log %q", err, l.all())
		}
		return
	}
	if !l.has("HOOK-RAN") {
		t.Fatalf("the hook did not run: %v %q", err, l.all())
	}
}

// TestSandboxDiesWithAgent: an agent killed mid-phase (SIGKILL: it cannot
// clean up) leaves no process of the run behind. The agent is this test's
// binary run again, with the hooks directory in RUNCRED_SANDBOX_AGENT.
func TestSandboxDiesWithAgent(t *testing.T) {
	if dir := os.Getenv("RUNCRED_SANDBOX_AGENT"); dir != "" {
		_, _ = Run(context.Background(), Spec{
			Phase: jobapi.Plan, Binary: "/bin/false", ConfigDir: "testdata/basic", HooksDir: dir,
			Env: map[string]string{"TFC_AGENT_HOOK_TIMEOUT": "600"}, Log: func(l string) { fmt.Println(l) }, Sandbox: newSandbox(t),
		})
		return
	}
	dir := hooks(t, map[string]string{"terraform-pre-plan": "sleep 989 & echo started; wait"})
	cmd := exec.Command(os.Args[0], "-test.run=^TestSandboxDiesWithAgent$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RUNCRED_SANDBOX_AGENT="+dir, "TMPDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := false
	for sc := bufio.NewScanner(out); !started && sc.Scan(); {
		started = sc.Text() == "started"
	}
	if !started {
		_ = cmd.Wait()
		t.Fatal("the agent's hook never started")
	}
	deadline := time.Now().Add(30 * time.Second)
	for sleepers(t, "989") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d background sleeps running, want the hook's one", sleepers(t, "989"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline = time.Now().Add(30 * time.Second)
	for sleepers(t, "989") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the run's process outlived the agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
