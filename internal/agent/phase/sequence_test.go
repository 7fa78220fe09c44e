//go:build linux

package phase

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
)

// The sandboxed OpenTofu commands of a phase run in one sandbox, one after
// the other, by a shell (see sequence). These tests run them with this
// test binary posing as OpenTofu (fakeTofu), which reports what it finds
// in the sandbox and does what the test's FAKE_* variables say.

func TestMain(m *testing.M) {
	if os.Getenv("RUNCRED_FAKE_TOFU") == "1" {
		os.Exit(fakeTofu(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeTofu is the test binary as OpenTofu: init, plan, show, apply and
// output, each printing what the tests look for.
func fakeTofu(args []string) int {
	if len(args) == 0 {
		return 2
	}
	cmd := args[0]
	// The shell's pipes (its fds 3 and 4) must not reach a command.
	for _, fd := range []int{3, 4} {
		if _, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil {
			if target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); strings.HasPrefix(target, "pipe:") {
				fmt.Fprintf(os.Stderr, "%s: FD%d-OPEN %s\n", cmd, fd, target)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%s: OTHERS=%d\n", cmd, others())
	if os.Getenv("FAKE_ENV") == "1" {
		env := os.Environ()
		slices.Sort(env)
		wd, _ := os.Getwd()
		fmt.Fprintf(os.Stderr, "%s: WD=%s ENV=%q\n", cmd, wd, env)
	}
	if os.Getenv("FAKE_FAIL") == cmd {
		fmt.Fprintf(os.Stderr, "%s: failing\n", cmd)
		return 3
	}
	if os.Getenv("FAKE_LOUD") == cmd {
		// More than a pipe holds, just before the command ends.
		w := bufio.NewWriter(os.Stderr)
		for i := range loudLines {
			fmt.Fprintf(w, "%s: LOUD %05d %s\n", cmd, i, strings.Repeat("x", 60))
		}
		w.Flush()
	}
	switch cmd {
	case "init":
		fmt.Println("NOT-JSON from init")
		if os.Getenv("FAKE_LEAVE") == "1" {
			// A process of its own session that outlives the command, as a
			// local-exec's background job would.
			c := exec.Command("sleep", "986")
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := c.Start(); err != nil {
				fmt.Fprintln(os.Stderr, "init: starting the leftover:", err)
				return 1
			}
			fmt.Fprintln(os.Stderr, "init: LEFT-SLEEP")
		}
	case "plan":
		if os.Getenv("FAKE_FORGE") == "1" {
			// The run shares the shell's user: it can open the shell's
			// status pipe through /proc and claim a command ended.
			f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/4", os.Getppid()), os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString("show 0\n")
				f.Close()
			}
			fmt.Fprintf(os.Stderr, "plan: FORGED err=%v\n", err)
		}
		fmt.Println("NOT-JSON from plan")
		b, _ := json.Marshal(args)
		fmt.Fprintf(os.Stderr, "plan: ARGS=%s\n", b)
		for _, a := range args {
			if p, ok := strings.CutPrefix(a, "-out="); ok {
				if err := os.WriteFile(p, []byte("FAKE-PLAN"), 0o600); err != nil {
					fmt.Fprintln(os.Stderr, "plan:", err)
					return 1
				}
			}
		}
		if os.Getenv("FAKE_FORGE") == "kill" {
			// Where it can open the shell's status pipe: report plan and
			// show as done, leave a process behind, and kill the shell
			// before it sweeps.
			f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/4", os.Getppid()), os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString("plan 0\nshow 0\n")
				f.Close()
				c := exec.Command("sleep", "987")
				c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				if err == nil {
					err = c.Start()
				}
			}
			// Written before the shell's end: what comes after may be lost.
			fmt.Fprintf(os.Stderr, "plan: FORGED-END err=%v\n", err)
			if err == nil {
				_ = syscall.Kill(os.Getppid(), syscall.SIGKILL)
				return 0
			}
		}
	case "show", "output":
		fmt.Fprintln(os.Stderr, cmd+": to the log")
		fmt.Print(`{"fake":"` + cmd + `"}`)
	case "apply":
		ints := make(chan os.Signal, 4)
		signal.Notify(ints, os.Interrupt)
		fmt.Fprintln(os.Stderr, "apply: APPLYING")
		if os.Getenv("FAKE_WAIT_INT") != "1" {
			_ = os.WriteFile("terraform.tfstate", []byte("APPLIED"), 0o600)
			return 0
		}
		select {
		case <-ints:
		case <-time.After(time.Minute):
			fmt.Fprintln(os.Stderr, "apply: no interrupt")
			return 1
		}
		_ = os.WriteFile("terraform.tfstate", []byte("INTERRUPTED"), 0o600)
		n := 1
		// A second interrupt would make OpenTofu exit at once, without
		// its state: count any that come.
		for deadline := time.After(time.Second); ; {
			select {
			case <-ints:
				n++
				continue
			case <-deadline:
			}
			break
		}
		fmt.Fprintf(os.Stderr, "apply: INTERRUPTS=%d\n", n)
		return 1
	}
	return 0
}

// others counts the processes of the sandbox besides its init, the shell
// and this one.
func others() int {
	ents, _ := filepath.Glob("/proc/[0-9]*")
	n := 0
	for _, e := range ents {
		pid, _ := strconv.Atoi(filepath.Base(e))
		if pid != 1 && pid != os.Getpid() && pid != os.Getppid() {
			n++
		}
	}
	return n
}

// fakeSpec is a sandboxed phase with this test binary as OpenTofu.
func fakeSpec(t *testing.T, ph jobapi.Phase, l *logs, env map[string]string) Spec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := Spec{Phase: ph, Binary: self, ConfigDir: "testdata/basic", Log: l.add, Sandbox: newSandbox(t),
		Env: map[string]string{"RUNCRED_FAKE_TOFU": "1"}}
	for k, v := range env {
		s.Env[k] = v
	}
	if ph == jobapi.Apply {
		s.PlanFile = []byte("FAKE-PLAN")
	}
	return s
}

// TestSequenceRunsEachCommandAlone: the plan's commands run in order,
// each with none of the shell's pipes and no process of the one before:
// init leaves a process behind, which is gone when plan starts. Only
// show's stdout is the JSON plan.
func TestSequenceRunsEachCommandAlone(t *testing.T) {
	var l logs
	res, err := Run(context.Background(), fakeSpec(t, jobapi.Plan, &l, map[string]string{"FAKE_LEAVE": "1"}))
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(l.all(), "\n"))
	}
	for _, want := range []string{"init: OTHERS=0", "init: LEFT-SLEEP", "plan: OTHERS=0", "show: OTHERS=0", "NOT-JSON from init", "NOT-JSON from plan", "show: to the log"} {
		if !l.has(want) {
			t.Errorf("the log lacks %q:\n%s", want, strings.Join(l.all(), "\n"))
		}
	}
	l.noneContain(t, "FD3-OPEN", "FD4-OPEN")
	if string(res.PlanJSON) != `{"fake":"show"}` || string(res.Plan) != "FAKE-PLAN" {
		t.Errorf("plan JSON %q, plan %q", res.PlanJSON, res.Plan)
	}
	if n := sleepers(t, "986"); n != 0 {
		t.Errorf("%d of init's leftover processes outlived the phase", n)
	}
}

// loudLines is how many lines FAKE_LOUD's command writes: about 45 KiB,
// which a pipe holds.
const loudLines = 600

// TestSequenceLogComplete: everything the commands wrote reaches the log,
// also what the last one wrote just before the phase ended. The phase
// ends without waiting for the sandbox's teardown, which must not cut the
// log short: here the log's reader is held at the last command's first
// line until run has seen the shell end, and the rest of what the command
// wrote is still in the pipe then. (On a loaded machine bubblewrap may end
// before run sees the shell's pipes end; the log must be whole then too.)
func TestSequenceLogComplete(t *testing.T) {
	for _, last := range []string{"show", "plan"} {
		t.Run(last, func(t *testing.T) {
			var l logs
			env := map[string]string{"FAKE_LOUD": last}
			if last == "plan" {
				env["FAKE_FAIL"] = "show" // plan is the last command that succeeds
			}
			settled := make(chan struct{})
			settledHook = func() { close(settled) }
			defer func() { settledHook = nil }()
			spec := fakeSpec(t, jobapi.Plan, &l, env)
			spec.Log = func(line string) {
				if strings.HasPrefix(line, last+": LOUD 00000 ") {
					select {
					case <-settled:
					case <-time.After(time.Minute):
						t.Error("run did not see the shell end")
					}
				}
				l.add(line)
			}
			_, err := Run(context.Background(), spec)
			if last == "show" && err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, line := range l.all() {
				if strings.HasPrefix(line, last+": LOUD ") {
					n++
				}
			}
			if n != loudLines {
				t.Errorf("the log holds %d of the %d lines %s wrote", n, loudLines, last)
			}
		})
	}
}

// TestDrain: drain takes what a pipe holds and returns, with the pipe's
// write end still open.
func TestDrain(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	want := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48 KiB, less than a pipe holds
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		drain(&got, r)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("drain waited for more")
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("drained %d bytes, want %d", got.Len(), len(want))
	}
}

// TestSequenceNamesTheFailingStep: a command that fails is the phase's
// failed step, with its exit status, and nothing after it runs.
func TestSequenceNamesTheFailingStep(t *testing.T) {
	for _, tc := range []struct {
		ph   jobapi.Phase
		fail string
		not  string // a later command, which must not have run
	}{
		{jobapi.Plan, "init", "plan:"},
		{jobapi.Plan, "plan", "show:"},
		{jobapi.Plan, "show", ""},
		{jobapi.Apply, "apply", "output:"},
		{jobapi.Apply, "output", ""},
	} {
		t.Run(string(tc.ph)+"-"+tc.fail, func(t *testing.T) {
			var l logs
			res, err := Run(context.Background(), fakeSpec(t, tc.ph, &l, map[string]string{"FAKE_FAIL": tc.fail}))
			var se *StepError
			if !errors.As(err, &se) || se.Step != tc.fail || !strings.Contains(err.Error(), "exit status 3") {
				t.Fatalf("err = %v, want step %s with exit status 3", err, tc.fail)
			}
			if !l.has(tc.fail + ": failing") {
				t.Errorf("the log lacks the failing command:\n%s", strings.Join(l.all(), "\n"))
			}
			if tc.not != "" {
				l.noneContain(t, tc.not)
			}
			if res.PlanJSON != nil || res.Outputs != nil {
				t.Errorf("a failed sequence captured %q %q", res.PlanJSON, res.Outputs)
			}
		})
	}
}

// TestSequenceApply: apply's state and output's JSON come back.
func TestSequenceApply(t *testing.T) {
	var l logs
	res, err := Run(context.Background(), fakeSpec(t, jobapi.Apply, &l, nil))
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(l.all(), "\n"))
	}
	if string(res.State) != "APPLIED" || string(res.Outputs) != `{"fake":"output"}` {
		t.Errorf("state %q, outputs %q", res.State, res.Outputs)
	}
}

// TestSequenceCancelInterruptsOnce: canceling an apply interrupts it with
// exactly one SIGINT (a second makes OpenTofu quit without its state),
// the state it then writes is kept, and output does not run.
func TestSequenceCancelInterruptsOnce(t *testing.T) {
	var l logs
	cancelApply(t, fakeSpec(t, jobapi.Apply, &l, map[string]string{"FAKE_WAIT_INT": "1"}), &l)
}

// cancelApply runs apply phase s (FAKE_WAIT_INT) and cancels it once the
// apply runs: the apply must get exactly one SIGINT and keep its
// interrupted state, and output must not run.
func cancelApply(t *testing.T, s Spec, l *logs) {
	t.Helper()
	lines := make(chan string, 64)
	s.Log = func(line string) { l.add(line); lines <- line }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var res Result
	var err error
	go func() { res, err = Run(ctx, s); close(done) }()
	waitLine(t, lines, "apply: APPLYING")
	cancel()
	<-done
	var se *StepError
	if !errors.As(err, &se) || se.Step != "apply" || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want apply canceled", err)
	}
	if !l.has("apply: INTERRUPTS=1") {
		t.Errorf("want exactly one interrupt:\n%s", strings.Join(l.all(), "\n"))
	}
	if string(res.State) != "INTERRUPTED" {
		t.Errorf("state %q, want the interrupted apply's", res.State)
	}
	l.noneContain(t, "output:")
}

// TestSequenceArguments: every argument reaches its command as one word,
// whatever it holds.
func TestSequenceArguments(t *testing.T) {
	var l logs
	s := fakeSpec(t, jobapi.Plan, &l, nil)
	s.Targets = []string{"a b", "it's", `"$HOME"`, "$(touch x)", "`id`", "line\nbreak", "*", ""}
	if _, err := Run(context.Background(), s); err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(l.all(), "\n"))
	}
	got := ""
	for _, line := range l.all() {
		if a, ok := strings.CutPrefix(line, "plan: ARGS="); ok {
			got = a
		}
	}
	// The run directory is a temporary one: compare past the -out path.
	var args []string
	if err := json.Unmarshal([]byte(got), &args); err != nil || len(args) != 4+len(s.Targets) {
		t.Fatalf("plan's arguments %s (%v), want 4 and the targets %q", got, err, s.Targets)
	}
	for i, a := range targets(s.Targets) {
		if args[4+i] != a {
			t.Errorf("argument %d is %q, want %q", 4+i, args[4+i], a)
		}
	}
}

func targets(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, "-target="+a)
	}
	return out
}

// TestSequenceScriptRefusesOutsideItsSandbox: the script's kill -1 must
// never reach processes outside the sandbox; it refuses to run as anything
// but PID 2 of its own PID namespace. Tried in a PID namespace of bwrap's
// where it is PID 3 (so that a script that did not refuse would still kill
// nothing of the host).
func TestSequenceScriptRefusesOutsideItsSandbox(t *testing.T) {
	bwrap := newSandbox(t).bwrap
	script := sequenceScript("/bin/echo", []tofuStep{{name: "init", args: []string{"RAN"}}}, false)
	out, err := exec.Command(bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--dev", "/dev",
		"/bin/sh", "-c", `/bin/sh -c "$0" 4>&1; echo "status $?"`, script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "runs only in its sandbox") || !strings.Contains(string(out), "status 125") || strings.Contains(string(out), "RAN") {
		t.Errorf("got %q, want a refusal", out)
	}
}

// TestSequenceForgedStatus: a command that tries to write a status line of
// its own into the shell's pipe, through /proc (it runs as the shell's
// user). Under a root agent the shell, started by setpriv, is not
// dumpable, so /proc refuses it and the phase goes on as usual. Where the
// open succeeds, the forged line must fail the phase at the command's own
// step: it never passes for a step that did not run.
func TestSequenceForgedStatus(t *testing.T) {
	var l logs
	res, err := Run(context.Background(), fakeSpec(t, jobapi.Plan, &l, map[string]string{"FAKE_FORGE": "1"}))
	switch {
	case l.has("plan: FORGED err=<nil>"):
		t.Log("the run could write into the shell's status pipe")
		var se *StepError
		if !errors.As(err, &se) || se.Step != "plan" || !strings.Contains(err.Error(), `reported "show"`) {
			t.Fatalf("err = %v, want the plan step failed on the forged line", err)
		}
		if res.PlanJSON != nil {
			t.Errorf("a JSON plan came back: %q", res.PlanJSON)
		}
	case l.has("plan: FORGED err=open /proc/2/fd/4: permission denied"):
		if os.Geteuid() != 0 {
			t.Log("the shell's pipes are out of the run's reach")
		}
		if err != nil || string(res.PlanJSON) != `{"fake":"show"}` {
			t.Fatalf("err = %v, plan JSON %q, want the phase as usual", err, res.PlanJSON)
		}
	default:
		t.Fatalf("the fake did not try:\n%s", strings.Join(l.all(), "\n"))
	}
	if os.Geteuid() == 0 && !l.has("permission denied") {
		t.Error("under a root agent the run could open the shell's pipe")
	}
}

// TestSequenceForgedEnd: where the run can open the shell's status pipe
// (an agent that is not root), it can report every command as done and
// kill the shell before it sweeps. The phase then ends without waiting
// for the sandbox, and what the run left behind dies with the sandbox all
// the same. Under a root agent the pipe is out of its reach.
func TestSequenceForgedEnd(t *testing.T) {
	var l logs
	_, err := Run(context.Background(), fakeSpec(t, jobapi.Plan, &l, map[string]string{"FAKE_FORGE": "kill"}))
	switch {
	case l.has("plan: FORGED-END err=<nil>"):
		t.Logf("the run reported its own end; the phase ended with %v", err)
		for deadline := time.Now().Add(time.Minute); sleepers(t, "987") != 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the process the run left behind outlived the phase")
			}
		}
	case l.has("plan: FORGED-END err=open /proc/2/fd/4: permission denied"):
		if err != nil {
			t.Fatalf("err = %v, want the phase as usual", err)
		}
	default:
		t.Fatalf("the fake did not try:\n%s", strings.Join(l.all(), "\n"))
	}
}

// TestReadStatuses: only well-formed lines count, up to the first that is
// not; whatever follows, however much, is read and dropped (the shell
// never blocks on a full pipe) and never kept.
func TestReadStatuses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []seqStatus
	}{
		{"init 0\nplan 1\n", []seqStatus{{"init", 0}, {"plan", 1}}},
		{"init 0\nplan 0", []seqStatus{{"init", 0}, {"plan", 0}}},
		{"init 0\ngarbage\nplan 0\n", []seqStatus{{"init", 0}}},
		{"init 256\n", nil},
		{"init -1\n", nil},
		{"init 0 0\n", nil},
		{"init\n", nil},
		{"", nil},
		{"init 0\n" + strings.Repeat("x", 1<<20) + "\nplan 0\n", []seqStatus{{"init", 0}}},
	} {
		r := strings.NewReader(tc.in)
		got := readStatuses(r)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("readStatuses(%.40q) = %v, want %v", tc.in, got, tc.want)
		}
		if r.Len() != 0 {
			t.Errorf("readStatuses(%.40q) left %d bytes unread", tc.in, r.Len())
		}
	}
}

// FuzzReadStatuses: whatever a run writes into the status pipe, the
// reader returns a bounded list of plain step names with exit statuses
// 0-255 and reads it all.
func FuzzReadStatuses(f *testing.F) {
	f.Add("init 0\nplan 0\nshow 0\n")
	f.Add("init 1\n")
	f.Add("init 0\r\nplan 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		r := strings.NewReader(in)
		got := readStatuses(r)
		if r.Len() != 0 {
			t.Fatalf("left %d bytes unread", r.Len())
		}
		if len(got) > maxStatusBytes/2 {
			t.Fatalf("%d statuses from %d bytes", len(got), len(in))
		}
		for _, s := range got {
			if s.status < 0 || s.status > 255 || strings.ContainsAny(s.name, " \n") {
				t.Fatalf("status %+v", s)
			}
		}
	})
}

// TestUnprivilegedSandbox runs this package's sandbox tests again as an
// unprivileged user, when the tests run as root: an agent that is not root
// sandboxes its runs through a user namespace of bubblewrap's and without
// setpriv, a path the root tests do not take. There, the run can open the
// shell's status pipe through /proc, so TestSequenceForgedStatus checks
// that a forged line fails the step.
func TestUnprivilegedSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the sandbox tests above already ran as an unprivileged user, and only root can switch to another")
	}
	setpriv := newSandbox(t).setpriv // a root agent's sandbox needs it: NewSandbox fails without
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A directory the unprivileged user owns, with the test binary and
	// the test data in it (the build's own directories are root's).
	dir, err := os.MkdirTemp("", "runcred-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "phase.test")
	if err := copyFile(self, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "testdata"), os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, NobodyID, NobodyID)
	}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid="+strconv.Itoa(NobodyID), "--regid="+strconv.Itoa(NobodyID), "--clear-groups", "--",
		bin, "-test.run=^(TestSandbox|TestSequence)", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the sandbox tests as uid %d: %v\n%s", NobodyID, err, out)
	}
	for _, want := range []string{"--- PASS: TestSandboxProbe", "--- PASS: TestSequenceRunsEachCommandAlone",
		"--- PASS: TestSequenceCancelInterruptsOnce", "the run could write into the shell's status pipe",
		"the run reported its own end"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the unprivileged run lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Errorf("a sandbox test skipped as uid %d:\n%s", NobodyID, out)
	}
}
