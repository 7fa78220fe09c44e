//go:build unix

package phase

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// How long a canceled child gets to stop on its own before it is killed.
// OpenTofu stops gracefully on SIGINT (an apply finishes in-flight resource
// operations and writes state), so it gets longer than a hook.
const (
	tofuGrace = 30 * time.Second
	hookGrace = 5 * time.Second
)

// command describes one child process of the phase.
type command struct {
	path string
	args []string
	dir  string
	env  []string
	log  io.Writer // receives stderr, and stdout unless capture is set
	// capture, if set, receives stdout instead of the log.
	capture io.Writer
	hook    bool // a hook: its whole process group is terminated on cancel
	// box, if set, runs the child in the sandbox, where it sees rw
	// (read-write) and ro (read-only) besides the system's files.
	box    *Sandbox
	rw, ro []string
	// extra are the child's fds 3, 4…; run closes them once the child
	// has its copies.
	extra []*os.File
	// sequence: the child is a sequence's shell in the sandbox (see
	// sequence); cancellation interrupts it as sandboxPID.interrupt says.
	sequence bool
	// settled, if set, is closed once the child has done all it was run
	// for and nothing of it is left to write to the log (a sequence's
	// shell has ended: see sequence). run then takes what is in the log
	// pipe, ends the sandbox and returns without waiting for bubblewrap
	// to tear it down; the child is reaped in the background.
	settled <-chan struct{}
}

// run starts c and waits for it. The child leads its own process group so
// that whatever it spawned (a hook's `sleep`, a provider plugin) is killed
// with it and cannot outlive the phase or hold its output open.
//
// The log is copied on the calling goroutine, so Spec.Log runs there: a
// panic in it unwinds through Run (which removes the run directory) instead
// of crashing the process from a goroutine of os/exec.
func (c command) run(ctx context.Context) error {
	// Closed once the child has its copies, or on the way out if it never
	// started (a second Close of an *os.File only returns ErrClosed).
	closeExtra := func() {
		for _, f := range c.extra {
			f.Close()
		}
	}
	defer closeExtra()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()

	path, args, env := c.path, c.args, c.env
	var box *boxed
	ended := make(chan struct{}) // closed once the child was waited for
	if c.box != nil {
		if box, err = c.box.wrap(c); err != nil {
			pw.Close()
			return fmt.Errorf("preparing the sandbox: %w", err)
		}
		defer box.close()
		// bwrap reads its arguments and the child's environment from a
		// memfd; its own environment is empty.
		path, args, env = box.path, box.args, nil
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = c.dir
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean "inherit the agent's environment"
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if c.capture != nil {
		cmd.Stdout = c.capture
	}
	cmd.ExtraFiles = c.extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = tofuGrace
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	if c.hook {
		cmd.WaitDelay = hookGrace
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	}
	if box != nil {
		// bwrap forwards no signal: the command gets it directly. Once
		// WaitDelay has passed, os/exec kills bwrap, and the wait below
		// the sandbox (its PID 1, and so every process in it).
		cmd.ExtraFiles = append(append([]*os.File(nil), c.extra...), box.files...)
		sig := syscall.SIGINT
		if c.hook {
			sig = syscall.SIGTERM
		}
		cmd.Cancel = func() error { return box.pid.signal(sig) }
		if c.sequence {
			cmd.Cancel = func() error {
				box.pid.interrupt(ended)
				return nil
			}
		}
	}
	err = cmd.Start()
	pw.Close() // the child holds its own copy; EOF comes when all copies close
	closeExtra()
	if box != nil && err == nil {
		box.started(cmd.Process.Pid)
	}
	if err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		close(ended)
		// Anything left in the group (or the sandbox) is an orphan of this
		// step; killing it also closes the pipe it may be holding.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if box != nil {
			box.pid.kill()
		}
		// Output already in the pipe is still read; a process that left
		// the group and keeps the pipe open is not waited for long.
		_ = pr.SetReadDeadline(time.Now().Add(hookGrace))
		waited <- err
	}()
	reaped := false
	defer func() {
		if !reaped { // unwinding from a panic in the log sink
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if box != nil {
				box.pid.kill()
			}
		}
	}()
	var settled <-chan struct{}
	if box != nil {
		settled = c.settled
	}
	if copyLog(c.log, pr, settled, ended, func() { box.pid.kill() }) {
		reaped = true
		return nil
	}
	err = <-waited
	reaped = true
	return err
}

// copyLog copies the sandbox's log pipe r to w until the pipe ends, or
// until settled closes (a sequence's shell has reported its last command):
// then every writer but bubblewrap has ended and what they wrote is in the
// pipe, so copyLog stops waiting for the pipe's end, kills the sandbox
// (whatever might be left in it, a command that outlived a killed shell,
// dies with its init), takes what the pipe holds and reports true. A nil
// settled only copies. ended closes when the child has ended; the caller
// sets r's deadline for a pipe some leftover process keeps open.
func copyLog(w io.Writer, r *os.File, settled, ended <-chan struct{}, kill func()) (early bool) {
	stop := make(chan struct{})
	if settled != nil {
		go func() {
			select {
			case <-settled:
				close(stop)
				_ = r.SetReadDeadline(time.Now()) // ends the copy below
			case <-ended:
			}
			if settledHook != nil {
				settledHook()
			}
		}()
	}
	_, _ = io.Copy(w, r)
	select {
	case <-stop:
		kill()
		_ = r.SetReadDeadline(time.Time{})
		drain(w, r)
		return true
	default:
		return false
	}
}

// settledHook, if set (by tests), runs once copyLog has seen the child
// settle (and stopped waiting for the log pipe's end), or seen it end first.
var settledHook func()

// drain copies to w what the pipe r holds now, without waiting for more.
func drain(w io.Writer, r *os.File) {
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := 0, error(nil)
		if err := rc.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), buf) // the pipe is non-blocking
			return true
		}); err != nil || rerr != nil || n <= 0 {
			return
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return
		}
	}
}
