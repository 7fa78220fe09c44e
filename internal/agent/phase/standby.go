//go:build linux

package phase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Standby is a phase's sandbox started ahead of the phase, while the agent
// waits for a job: starting one (bubblewrap's namespaces and mounts,
// setpriv, the shell) is most of what the sandbox costs a phase. It holds
// an empty run directory, bound read-write, and the binary and provider
// mirror, read-only, as the phase's own sandbox would; its shell has run
// the sequence's checks (PID 2 of its own PID namespace) and waits on a
// pipe for the rest of its script: the working directory, the phase's
// environment and its commands (see sequence), which come once the phase
// is ready to run them. Nothing of the phase is in it before then.
//
// A standby serves one phase, whose Spec names it (Spec.Standby) and whose
// run directory is the standby's. Close ends it, whether a phase used it or not.
type Standby struct {
	dir, binary, mirror string
	env                 []string // the shell's environment until its script's rest

	mu     sync.Mutex
	used   bool
	closed bool

	cmd    *exec.Cmd
	box    *boxed
	logR   *os.File // stdout and stderr of the sandbox
	capR   *os.File // the shell's fd 3
	stR    *os.File // the shell's fd 4
	script *os.File // the shell's stdin, where its script goes
	ended  chan struct{}
	err    error // bubblewrap's end, once ended is closed
}

// A standby's shell reads its script from its stdin (sh -s): the
// sequence's prologue at once, the rest once the phase is ready, after
// which the agent closes the pipe and the shell ends with the script.
// (Its commands, background jobs, get /dev/null as their stdin.)

// NewStandby starts a standby sandbox for a phase of binary, with the
// provider mirror ("" for none), in dir: a fresh, empty run directory the
// caller made and removes.
func (s *Sandbox) NewStandby(dir, binary, mirror string) (*Standby, error) {
	st := &Standby{dir: dir, binary: binary, mirror: mirror, ended: make(chan struct{})}
	if !filepath.IsAbs(dir) || !filepath.IsAbs(binary) || (mirror != "" && !filepath.IsAbs(mirror)) {
		return nil, errors.New("a standby's paths must be absolute")
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	var files []*os.File
	closeAll := func() {
		for _, f := range append(files, logR, logW) {
			f.Close()
		}
	}
	var ends [3][2]*os.File // capture, status, script
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		ends[i] = [2]*os.File{r, w}
		files = append(files, r, w)
	}
	r := &runner{dir: dir, spec: Spec{Binary: binary, ProviderMirror: mirror, Sandbox: s}}
	st.env = environ(nil, nil, r.own(nil))
	c := r.child("/bin/sh", []string{"-s"}, st.env, nil)
	c.dir = dir
	// The shell's fds 3 and 4: the write ends of the capture and status
	// pipes.
	c.extra = []*os.File{ends[0][1], ends[1][1]}
	box, err := s.wrap(c)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("preparing the sandbox: %w", err)
	}
	cmd := exec.Command(box.path, box.args...)
	cmd.Dir, cmd.Env = dir, []string{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ends[2][0], logW, logW
	cmd.ExtraFiles = append(append([]*os.File(nil), c.extra...), box.files...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	// The child holds its own copies.
	logW.Close()
	ends[2][0].Close()
	for _, f := range c.extra {
		f.Close()
	}
	if err != nil {
		box.close()
		for _, e := range ends {
			e[0].Close()
			e[1].Close()
		}
		logR.Close()
		return nil, err
	}
	box.started(cmd.Process.Pid)
	st.cmd, st.box, st.logR = cmd, box, logR
	st.capR, st.stR, st.script = ends[0][0], ends[1][0], ends[2][1]
	go func() {
		st.err = cmd.Wait()
		box.close()
		// Output already in the pipe is still read; a process that left
		// the group and keeps the pipe open is not waited for long.
		_ = logR.SetReadDeadline(time.Now().Add(hookGrace))
		close(st.ended)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		box.pid.kill()
	}()
	// The prologue fits the pipe: the write does not wait for the shell.
	if _, err := io.WriteString(st.script, sequencePrologue()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// Close ends the standby's sandbox and waits for it; the run directory is
// the caller's to remove. It is safe to call more than once.
func (st *Standby) Close() {
	if st == nil {
		return
	}
	st.mu.Lock()
	if !st.closed {
		st.closed = true
		st.script.Close()
		st.box.pid.kill()
	}
	st.mu.Unlock()
	<-st.ended
	st.logR.Close()
	st.capR.Close()
	st.stR.Close()
}

// take hands the standby to one phase of binary and mirror in dir; false
// if it does not fit or is no longer waiting.
func (st *Standby) take(dir, binary, mirror string) bool {
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	select {
	case <-st.ended:
		return false
	default:
	}
	if st.used || st.closed || st.dir != dir || st.binary != binary || st.mirror != mirror {
		return false
	}
	st.used = true
	return true
}

// standbyRest is the rest of a standby's script: the sequence's commands
// in the working directory work, with env, which replaces the shell's own
// environment. It reports false if env has a name the shell cannot set
// (checkEnv and the hooks' env files already refuse those; the phase would
// start a sandbox of its own). Under a root agent the
// loader's variables are left out, as the sandbox leaves them out of
// every environment.
func (r *runner) standbyRest(steps []tofuStep, env, had []string) (string, bool) {
	var b strings.Builder
	b.WriteString("cd -- " + shellQuote(r.work) + " || exit 126\n")
	keep := map[string]bool{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if !validName(k) {
			return "", false
		}
		if r.spec.Sandbox.setpriv != "" && loaderVar(k) {
			continue
		}
		keep[k] = true
		b.WriteString("export " + k + "=" + shellQuote(v) + "\n")
	}
	// The shell's own variables that the phase's environment does not
	// hold go, and so do PWD and OLDPWD, which cd sets, unless it sets
	// them.
	gone := []string{"PWD", "OLDPWD"}
	for _, kv := range had {
		k, _, _ := strings.Cut(kv, "=")
		gone = append(gone, k)
	}
	for _, k := range gone {
		if !keep[k] && validName(k) {
			b.WriteString("unset " + k + "\n")
		}
	}
	b.WriteString(sequenceSteps(r.spec.Binary, steps))
	return b.String(), true
}

// run runs the sequence's commands in the standby st: it writes the
// rest of the shell's script and waits as command.run does, but for a
// process started earlier: ctx's end interrupts it (see
// sandboxPID.interrupt), and tofuGrace later kills the sandbox.
func (st *Standby) run(ctx context.Context, rest string, log io.Writer, settled <-chan struct{}) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			st.box.pid.interrupt(st.ended)
			t := time.NewTimer(tofuGrace)
			defer t.Stop()
			select {
			case <-t.C:
				st.box.pid.kill()
			case <-st.ended:
			}
		case <-st.ended:
		case <-done:
		}
	}()
	_, werr := io.WriteString(st.script, rest)
	st.script.Close()
	if werr != nil {
		st.box.pid.kill()
	}
	if copyLog(log, st.logR, settled, st.ended, st.box.pid.kill) {
		return nil
	}
	<-st.ended
	if werr != nil {
		return fmt.Errorf("the standby sandbox took no script: %w (%v)", werr, st.err)
	}
	return st.err
}
