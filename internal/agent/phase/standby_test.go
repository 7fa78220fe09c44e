//go:build linux

package phase

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
)

// withStandby gives s a standby sandbox in a fresh run directory, as the
// agent does while it waits for a job.
func withStandby(t *testing.T, s Spec) (Spec, *Standby) {
	t.Helper()
	dir, err := os.MkdirTemp("", "runcred-standby-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveDir(dir) })
	st, err := s.Sandbox.NewStandby(dir, s.Binary, s.ProviderMirror)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	s.Dir, s.Standby = dir, st
	return s, st
}

// used reports whether a phase took st.
func (st *Standby) usedOnce() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.used
}

// TestStandbyRunsTheSequence: in a standby sandbox the commands run as in
// one started for the phase: in order, alone, in the working directory,
// with exactly the phase's environment (nothing of the standby's own, no
// PWD or OLDPWD from its cd), and their output and reports come back.
func TestStandbyRunsTheSequence(t *testing.T) {
	env := map[string]string{"FAKE_LEAVE": "1", "FAKE_ENV": "1", "QUOTED": `it's "$(x)" *`}
	var fresh logs
	spec := fakeSpec(t, jobapi.Plan, &fresh, env)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	spec.Dir = filepath.Join(dir, "run")
	if err := os.Mkdir(spec.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), spec); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(fresh.all(), "\n"))
	}

	var l logs
	s, st := withStandby(t, fakeSpec(t, jobapi.Plan, &l, env))
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(l.all(), "\n"))
	}
	if !st.usedOnce() {
		t.Fatal("the phase did not use its standby")
	}
	for _, want := range []string{"init: OTHERS=0", "init: LEFT-SLEEP", "plan: OTHERS=0", "show: OTHERS=0", "NOT-JSON from plan", "show: to the log"} {
		if !l.has(want) {
			t.Errorf("the log lacks %q:\n%s", want, strings.Join(l.all(), "\n"))
		}
	}
	l.noneContain(t, "FD3-OPEN", "FD4-OPEN", "FD5-OPEN")
	if string(res.PlanJSON) != `{"fake":"show"}` || string(res.Plan) != "FAKE-PLAN" {
		t.Errorf("plan JSON %q, plan %q", res.PlanJSON, res.Plan)
	}
	// The same environment and working directory as in a sandbox of the
	// phase's own, but for the run directory's path.
	envLine := func(l *logs, runDir string) string {
		for _, line := range l.all() {
			if strings.HasPrefix(line, "plan: WD=") {
				return strings.ReplaceAll(line, runDir, "<run>")
			}
		}
		t.Fatalf("no environment in the log:\n%s", strings.Join(l.all(), "\n"))
		return ""
	}
	if got, want := envLine(&l, s.Dir), envLine(&fresh, spec.Dir); got != want {
		t.Errorf("in the standby:\n%s\nin a sandbox of its own:\n%s", got, want)
	}
	if n := sleepers(t, "986"); n != 0 {
		t.Errorf("%d of init's leftover processes outlived the phase", n)
	}
}

// TestStandbyCancel: canceled in a standby sandbox, the running apply gets
// exactly one SIGINT and keeps its state; nothing after it runs.
func TestStandbyCancel(t *testing.T) {
	var l logs
	s, st := withStandby(t, fakeSpec(t, jobapi.Apply, &l, map[string]string{"FAKE_WAIT_INT": "1"}))
	cancelApply(t, s, &l)
	if !st.usedOnce() {
		t.Error("the phase did not use its standby")
	}
}

// TestStandbyFailingStep: a failing command in a standby is the named
// step with its status.
func TestStandbyFailingStep(t *testing.T) {
	var l logs
	s, _ := withStandby(t, fakeSpec(t, jobapi.Plan, &l, map[string]string{"FAKE_FAIL": "plan"}))
	_, err := Run(context.Background(), s)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "plan" || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v", err)
	}
	l.noneContain(t, "show:")
}

// TestStandbyEnded: a standby whose sandbox has ended, or one that does
// not fit the phase, is not used: the phase starts a sandbox of its own.
func TestStandbyEnded(t *testing.T) {
	var l logs
	s, st := withStandby(t, fakeSpec(t, jobapi.Plan, &l, nil))
	st.Close()
	if _, err := Run(context.Background(), s); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(l.all(), "\n"))
	}
	if st.usedOnce() {
		t.Error("the phase used an ended standby")
	}

	var l2 logs
	s2, st2 := withStandby(t, fakeSpec(t, jobapi.Plan, &l2, nil))
	s2.Dir = t.TempDir()
	if _, err := Run(context.Background(), s2); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(l2.all(), "\n"))
	}
	if st2.usedOnce() {
		t.Error("the phase used a standby of another run directory")
	}
}

// TestStandbyClosedUnused: a standby no phase used ends with Close,
// leaving no process behind.
func TestStandbyClosedUnused(t *testing.T) {
	s, st := withStandby(t, fakeSpec(t, jobapi.Plan, &logs{}, nil))
	_ = s
	pid := st.cmd.Process.Pid
	st.Close()
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		t.Errorf("bubblewrap (pid %d) outlived Close", pid)
	}
}
