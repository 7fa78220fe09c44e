//go:build unix

package phase

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/runcred/runcred/internal/jobapi"
)

// tofuStep is one OpenTofu command of a phase: init, then plan and show,
// or apply and output.
type tofuStep struct {
	name    string // the phase step it is, as StepError names it
	args    []string
	capture *[]byte      // receives stdout instead of the log, if set
	after   func() error // runs once the command succeeded
}

// tofuSteps are the phase's OpenTofu commands, in order.
func (r *runner) tofuSteps() []tofuStep {
	init := tofuStep{name: "init", args: []string{"init", "-input=false", "-no-color"}}
	if r.spec.Phase == jobapi.Plan {
		return []tofuStep{init,
			{name: "plan", args: r.planArgs(), after: func() error {
				b, err := os.ReadFile(r.planPath())
				r.res.Plan = b
				return err
			}},
			{name: "show", args: []string{"show", "-json", "-no-color", r.planPath()}, capture: &r.res.PlanJSON},
		}
	}
	return []tofuStep{init,
		{name: "apply", args: []string{"apply", "-input=false", "-no-color", r.planPath()}, after: func() error {
			r.readState()
			return nil
		}},
		{name: "output", args: []string{"output", "-json", "-no-color"}, capture: &r.res.Outputs},
	}
}

// single runs one OpenTofu command as a child of its own (no sandbox).
func (r *runner) single(ctx context.Context, t tofuStep) error {
	if err := r.tofuTo(ctx, t.capture, t.args...); err != nil {
		return err
	}
	if t.after != nil {
		return t.after()
	}
	return nil
}

// sequence runs the phase's OpenTofu commands one after the other in one
// sandbox, by a shell (sequenceScript) that starts each, reports its exit
// status on a pipe, and kills whatever it left behind before the next one
// starts: one sandbox to set up per phase instead of one per command. A
// failure is a *StepError naming the command's step.
//
// Stopping it (ctx done): the shell is told to start no further command,
// and the command running gets SIGINT once, from the agent (see
// sandboxPID.interrupt), so that an interrupted apply still writes its
// state.
func (r *runner) sequence(ctx context.Context, steps []tofuStep) error {
	env := environ(r.spec.Env, r.hookEnv, r.own(nil))
	logw := r.output()
	defer logw.Flush()
	// The shell's fds 3 and 4 (capture, status), and how to run it: in
	// the phase's standby sandbox, if it has one that fits, or in one of
	// its own.
	var capR, stR *os.File
	var run func(settled <-chan struct{}) error
	if st := r.spec.Standby; st.take(r.dir, r.spec.Binary, r.spec.ProviderMirror) {
		if rest, ok := r.standbyRest(steps, env, st.env); ok {
			capR, stR = st.capR, st.stR
			run = func(settled <-chan struct{}) error { return st.run(ctx, rest, logw, settled) }
		} else {
			st.Close()
		}
	}
	if run == nil {
		var capW, stW *os.File
		var err error
		if capR, capW, err = os.Pipe(); err != nil {
			return &StepError{Step: steps[0].name, Err: err}
		}
		defer capR.Close()
		if stR, stW, err = os.Pipe(); err != nil {
			capW.Close()
			return &StepError{Step: steps[0].name, Err: err}
		}
		defer stR.Close()
		c := r.child("/bin/sh", []string{"-c", sequenceScript(r.spec.Binary, steps, hasKey(env, "PWD"))}, env, logw)
		c.extra = []*os.File{capW, stW} // the shell's fds 3 and 4
		c.sequence = true
		run = func(settled <-chan struct{}) error {
			c.settled = settled
			return c.run(ctx) // closes capW and stW once the child has them
		}
	}

	var captured capped
	capDone := make(chan struct{})
	go func() {
		defer close(capDone)
		_, _ = io.Copy(&captured, capR)
	}()
	var done []seqStatus
	read, settled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(read)
		done = readStatuses(stR)
		<-capDone
		// Both pipes end when the shell does. If it reported the last
		// command it was to run, it had killed whatever the commands left,
		// and run need not wait for the sandbox's teardown. (Should a run
		// have killed the shell and written its reports, run kills what is
		// left.) Otherwise the sandbox's own end tells what happened.
		if n := len(done); n == len(steps) || (n > 0 && done[n-1].status != 0) {
			close(settled)
		}
	}()
	runErr := run(settled)
	<-read

	for i, t := range steps {
		if i >= len(done) {
			// It was running, or about to, when the sequence ended.
			var err error
			switch {
			case ctx.Err() != nil:
				err = ctx.Err()
			case runErr != nil:
				err = runErr
			default:
				err = errors.New("the sandbox's shell ended before it ran")
			}
			return &StepError{Step: t.name, Err: err}
		}
		if done[i].name != t.name {
			return &StepError{Step: t.name, Err: fmt.Errorf("the sandbox's shell reported %q for it", done[i].name)}
		}
		if done[i].status != 0 {
			if ctx.Err() != nil {
				return &StepError{Step: t.name, Err: ctx.Err()}
			}
			return &StepError{Step: t.name, Err: fmt.Errorf("exit status %d", done[i].status)}
		}
		if t.capture != nil {
			if captured.over {
				return &StepError{Step: t.name, Err: fmt.Errorf("output of %s is larger than %d bytes", t.args[0], maxCaptured)}
			}
			*t.capture = captured.b
		}
		if t.after != nil {
			if err := t.after(); err != nil {
				return &StepError{Step: t.name, Err: err}
			}
		}
	}
	if len(done) > len(steps) {
		return &StepError{Step: steps[len(steps)-1].name, Err: errors.New("the sandbox's shell reported more commands than it was given")}
	}
	return nil
}

// seqStatus is a command's end as the sequence's shell reports it.
type seqStatus struct {
	name   string
	status int
}

// maxStatusBytes bounds what is read of the status pipe: a few short lines
// are expected, and a run that writes more into it only fails itself.
const maxStatusBytes = 4096

// readStatuses reads "<step> <exit status>" lines until the pipe's end.
// A line that is not one ends the list (the caller then fails the step
// that has no status).
func readStatuses(r io.Reader) []seqStatus {
	var out []seqStatus
	sc := bufio.NewScanner(io.LimitReader(r, maxStatusBytes))
	bad := false
	for sc.Scan() {
		name, code, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(code)
		if bad || !ok || err != nil || n < 0 || n > 255 {
			bad = true
			continue // drain, so the shell never blocks on a full pipe
		}
		out = append(out, seqStatus{name: name, status: n})
	}
	_, _ = io.Copy(io.Discard, r)
	return out
}

// sequenceScript is the shell program that runs steps with the binary.
// The commands get neither of its pipes (fd 3, where the step that
// captures writes its stdout, and fd 4, where each command's exit status
// goes). Each runs as a background job, so that the shell can take
// SIGUSR1 (start nothing more) while it waits; OpenTofu and Terraform
// install their own SIGINT handler, which a background job of a
// non-interactive shell would otherwise ignore.
//
// After each command the shell kills every other process of the sandbox
// (kill -1 in its own PID namespace spares only its init and the shell)
// and waits until they are gone, so nothing a command started (a
// provider, a local-exec's background job) lives on into the next one.
//
// dash exports PWD, which the phase's environment does not hold unless
// it sets it (keepPWD).
func sequenceScript(binary string, steps []tofuStep, keepPWD bool) string {
	var b strings.Builder
	if !keepPWD {
		b.WriteString("unset PWD\n")
	}
	b.WriteString(sequencePrologue())
	b.WriteString(sequenceSteps(binary, steps))
	return b.String()
}

// sequencePrologue is the sequence's checks and functions.
func sequencePrologue() string {
	// kill -1 below must only ever reach the sandbox's own processes: the
	// shell is the first process bwrap's init starts in a PID namespace of
	// its own, so it is PID 2 there, and refuses to go on anywhere else.
	return `[ "$$" = 2 ] || { echo "runcred: the command sequence runs only in its sandbox" >&2; exit 125; }
stop=
trap 'stop=1' USR1
sweep() {
	while :; do
		kill -KILL -1 2>/dev/null
		left=
		for p in /proc/[0-9]*; do
			case ${p#/proc/} in 1|$$) ;; *) [ ! -e "$p" ] || left=1 ;; esac
		done
		[ -n "$left" ] || return 0
	done
}
step() {
	name=$1 out=$2
	shift 2
	[ -z "$stop" ] || exit 130
	if [ "$out" = 1 ]; then "$@" >&3 3>&- 4>&- & else "$@" 3>&- 4>&- & fi
	pid=$!
	while wait "$pid"; rc=$?; [ "$rc" = 138 ] && kill -0 "$pid" 2>/dev/null; do :; done
	sweep
	printf '%s %d\n' "$name" "$rc" >&4
	[ "$rc" = 0 ] || exit "$rc"
}
`
}

// sequenceSteps is the sequence's commands, one step call each.
func sequenceSteps(binary string, steps []tofuStep) string {
	var b strings.Builder
	for _, t := range steps {
		out := "0"
		if t.capture != nil {
			out = "1"
		}
		b.WriteString("step " + shellQuote(t.name) + " " + out + " " + shellQuote(binary))
		for _, a := range t.args {
			b.WriteString(" " + shellQuote(a))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// shellQuote quotes s as one word for sh: inside single quotes every byte
// but the quote itself is literal, newlines included.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}
