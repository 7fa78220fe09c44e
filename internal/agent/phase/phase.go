// Package phase executes one phase (plan or apply) of a run: it builds a
// fresh, owner-only run directory, runs the agent hooks and OpenTofu or
// Terraform in it with exactly the environment it was given (on Linux in a
// bubblewrap sandbox that shows them nothing else of the host: see
// Sandbox), streams the redacted output, and removes the directory
// whatever happens.
//
// It owns the shape of a phase's execution, not its inputs: the agent
// decides the environment (built-ins, workspace variables, credentials) and
// the secrets to redact, and stores what the phase produced.
package phase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// Spec is everything one phase needs.
type Spec struct {
	Phase  jobapi.Phase
	Binary string // absolute path of tofu or terraform
	// Dir is the run directory, made (0700) and removed by the caller, who
	// may have put credential files in it; "" makes a temporary one that
	// Run removes. Run's own files go in it beside the caller's.
	Dir        string
	ConfigDir  string // the unpacked configuration version; copied, never modified
	WorkingDir string // the workspace's working directory inside the configuration ("" for its root)

	// TerraformVars are the workspace's Terraform variables, sensitive ones
	// included; they are written only to VarsFile (mode 0600).
	TerraformVars map[string]any
	// Env is the phase's whole environment: built-ins, environment
	// variables, credential variables. Nothing of the agent's own
	// environment reaches a child; PATH defaults to a fixed safe value.
	// A variable runenv refuses is dropped, and the log says so by name.
	Env map[string]string

	HooksDir       string // directory of terraform-pre-plan etc.; "" for none
	PlanFile       []byte // apply: the saved plan of the plan phase
	State          []byte // prior state for the local backend, written to terraform.tfstate; nil for none
	ProviderMirror string // filesystem provider mirror; "" lets OpenTofu use its registries
	Secrets        []secret.Value
	// Destroy plans the destruction of every resource (plan -destroy).
	Destroy bool
	// NoRefresh, RefreshOnly, Targets and Replaces are the plan's
	// -refresh=false, -refresh-only, -target and -replace.
	NoRefresh   bool
	RefreshOnly bool
	Targets     []string
	Replaces    []string
	// Redactor, if given, is the caller's: Secrets and the values a pre
	// hook exports are added to it, so the caller can scrub what the phase
	// produced with everything the phase learned. nil makes a fresh one.
	Redactor *Redactor

	// Log receives every output line, redacted, as it is produced, on the
	// goroutine that called Run. nil discards the output.
	Log func(line string)
	// Timeout bounds the phase, post hook excepted (it has its own); 0 for none.
	Timeout time.Duration
	// Sandbox, if set, runs every child (hooks included) isolated from the
	// host: see Sandbox. The OpenTofu commands share one sandbox, each hook
	// has its own (see sequence). nil runs them as the agent's user with
	// the host's whole file system in view.
	Sandbox *Sandbox
	// Standby, if set, is a sandbox started ahead for this phase, in Dir
	// (see Standby): the OpenTofu commands run in it rather than in one
	// started now. One that does not fit, or has ended, is not used.
	Standby *Standby
}

// Result is what the phase produced. Run fills it as far as it got, also
// when it returns an error: a failed apply may still have written State,
// which the caller must keep.
type Result struct {
	Plan     []byte // plan: the saved plan (binary)
	PlanJSON []byte // plan: `show -json` of it; holds sensitive values in the clear
	State    []byte // apply: terraform.tfstate of the local backend, if any
	Outputs  []byte // apply: `output -json`; holds sensitive values in the clear
}

// StepError says which step of the phase failed.
type StepError struct {
	Step string // e.g. "terraform-pre-plan", "init", "plan", "cleanup"
	Err  error
}

func (e *StepError) Error() string { return "phase step " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// runner holds the state of one phase's execution.
type runner struct {
	spec    Spec
	dir     string // the run directory; HOME of every child
	work    string // the working directory inside dir/config
	red     *Redactor
	log     func(string)
	hookEnv map[string]string // exported by the pre hook through $TFC_AGENT_ENV
	res     Result
}

// step is one named step of a phase, like otf's job steps.
type step struct {
	name string
	run  func(context.Context) error
	// named: run returns a *StepError naming which of its commands
	// failed (a sequence of OpenTofu commands; see sequence).
	named bool
}

// Run executes the phase described by s. The run directory is removed
// before Run returns, also on error, cancellation or panic.
func Run(ctx context.Context, s Spec) (res Result, err error) {
	if err := s.validate(); err != nil {
		return Result{}, &StepError{Step: "validate", Err: err}
	}
	r := &runner{spec: s, red: s.Redactor, hookEnv: map[string]string{}, log: s.Log}
	if r.red == nil {
		r.red = NewRedactor()
	}
	for _, v := range s.Secrets {
		r.red.Add(v)
	}
	if r.log == nil {
		r.log = func(string) {}
	}
	r.spec.Env = allowed(s.Env, r.log)
	if r.dir = s.Dir; r.dir == "" {
		r.dir, err = os.MkdirTemp("", "runcred-phase-")
		if err != nil {
			return Result{}, &StepError{Step: "prepare", Err: err}
		}
		defer func() {
			if rmErr := RemoveDir(r.dir); rmErr != nil {
				err = errors.Join(err, &StepError{Step: "cleanup", Err: rmErr})
			}
		}()
	}
	r.work = filepath.Join(r.dir, "config", filepath.FromSlash(s.WorkingDir))

	mctx := ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	steps := []step{
		{name: "prepare", run: r.prepare},
		{name: hookName("pre", s.Phase), run: func(ctx context.Context) error { return r.hook(ctx, "pre") }},
	}
	tofu := r.tofuSteps()
	if s.Sandbox != nil {
		// One sandbox for all of them: see sequence.
		steps = append(steps, step{name: tofu[0].name, named: true, run: func(ctx context.Context) error { return r.sequence(ctx, tofu) }})
	} else {
		for _, t := range tofu {
			steps = append(steps, step{name: t.name, run: func(ctx context.Context) error { return r.single(ctx, t) }})
		}
	}
	prepared := false
	for _, st := range steps {
		if err = st.run(mctx); err != nil {
			name := st.name
			var se *StepError
			if st.named && errors.As(err, &se) {
				name, err = se.Step, se.Err
			}
			if ctx.Err() == nil && errors.Is(mctx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("the phase ran past its time limit of %s", s.Timeout)
			}
			err = &StepError{Step: name, Err: err}
			if name == "apply" {
				r.readState() // a failed apply may have changed resources
			}
			break
		}
		prepared = true
	}
	// Once the run directory is complete, the post hook runs whether or not
	// the phase succeeded, and even after cancellation: it is where
	// operators clean up. Its own timeout bounds it.
	if prepared {
		post := hookName("post", s.Phase)
		if perr := r.hook(context.WithoutCancel(ctx), "post"); perr != nil {
			err = errors.Join(err, &StepError{Step: post, Err: perr})
		}
	}
	return r.res, err
}

func (s Spec) validate() error {
	switch {
	case !s.Phase.Valid():
		return fmt.Errorf("unknown phase kind %q", s.Phase)
	case !filepath.IsAbs(s.Binary):
		return errors.New("binary must be an absolute path")
	case s.ConfigDir == "":
		return errors.New("no configuration directory")
	case s.Dir != "" && !filepath.IsAbs(s.Dir):
		return errors.New("run directory must be an absolute path")
	case s.WorkingDir != "" && !filepath.IsLocal(filepath.FromSlash(s.WorkingDir)):
		return fmt.Errorf("working directory %q is not inside the configuration", s.WorkingDir)
	case s.Phase == jobapi.Apply && len(s.PlanFile) == 0:
		return errors.New("apply needs the saved plan")
	case s.ProviderMirror != "" && !filepath.IsAbs(s.ProviderMirror):
		return errors.New("provider mirror must be an absolute path")
	}
	return checkEnv(s.Env)
}

// prepare fills the run directory: the configuration, the variables, the
// CLI configuration, the prior state and, for apply, the saved plan.
func (r *runner) prepare(context.Context) error {
	r.applyHeader()
	if err := os.Chmod(r.dir, 0o700); err != nil {
		return err
	}
	if err := copyConfig(r.spec.ConfigDir, filepath.Join(r.dir, "config")); err != nil {
		return err
	}
	if !dirExists(r.work) {
		return fmt.Errorf("working directory %q does not exist in the configuration", r.spec.WorkingDir)
	}
	if err := writeVars(r.work, r.spec.TerraformVars); err != nil {
		return err
	}
	if err := overrideRemoteBackend(r.work); err != nil {
		return err
	}
	cfg, err := cliConfig(r.spec.ProviderMirror)
	if err != nil {
		return err
	}
	if err := writeFile(r.cliConfigPath(), cfg, 0o600); err != nil {
		return err
	}
	if r.spec.State != nil {
		if err := writeFile(filepath.Join(r.work, "terraform.tfstate"), r.spec.State, 0o600); err != nil {
			return err
		}
	}
	if r.spec.Phase == jobapi.Apply {
		if err := writeFile(r.planPath(), r.spec.PlanFile, 0o600); err != nil {
			return err
		}
	}
	// Under a root agent the sandboxed run has a user of its own.
	return r.spec.Sandbox.own(r.dir)
}

// child is a command of the phase, in the sandbox if there is one, where
// it sees the run directory and, read-only, the binary and the mirror.
func (r *runner) child(path string, args []string, env []string, log io.Writer) command {
	c := command{path: path, args: args, dir: r.work, env: env, log: log, box: r.spec.Sandbox}
	if c.box != nil {
		c.rw = []string{r.dir}
		c.ro = []string{r.spec.Binary}
		if r.spec.ProviderMirror != "" {
			c.ro = append(c.ro, r.spec.ProviderMirror)
		}
	}
	return c
}

func (r *runner) cliConfigPath() string { return filepath.Join(r.dir, "cli.tfrc") }
func (r *runner) planPath() string      { return filepath.Join(r.dir, "plan.tfplan") }

// own returns the variables the phase sets for every child, plus extra.
func (r *runner) own(extra map[string]string) map[string]string {
	m := map[string]string{
		"HOME":               r.dir,
		"TF_CLI_CONFIG_FILE": r.cliConfigPath(),
		"TF_IN_AUTOMATION":   "1",
		"TF_INPUT":           "0",
		"CHECKPOINT_DISABLE": "1",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// output returns a fresh line writer into the redacted log.
func (r *runner) output() *lineWriter { return newLineWriter(r.red, r.log) }

// tofuTo runs the binary with args in the working directory, both output
// streams into the log, or stdout into *stdout if that is given.
func (r *runner) tofuTo(ctx context.Context, stdout *[]byte, args ...string) error {
	logw := r.output()
	defer logw.Flush()
	c := r.child(r.spec.Binary, args, environ(r.spec.Env, r.hookEnv, r.own(nil)), logw)
	var buf capped
	if stdout != nil {
		c.capture = &buf
	}
	err := c.run(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil && buf.over {
		return fmt.Errorf("output of %s is larger than %d bytes", args[0], maxCaptured)
	}
	if stdout != nil {
		*stdout = buf.b
	}
	return err
}

// planArgs are the plan command's arguments.
func (r *runner) planArgs() []string {
	args := []string{"plan", "-input=false", "-no-color", "-out=" + r.planPath()}
	if r.spec.Destroy {
		args = append(args, "-destroy")
	}
	if r.spec.RefreshOnly {
		args = append(args, "-refresh-only")
	}
	if r.spec.NoRefresh {
		args = append(args, "-refresh=false")
	}
	// -flag=ADDR: one argument each, so no address can pose as a flag.
	for _, a := range r.spec.Targets {
		args = append(args, "-target="+a)
	}
	for _, a := range r.spec.Replaces {
		args = append(args, "-replace="+a)
	}
	return args
}

// readState keeps the local backend's state, if the configuration uses it.
func (r *runner) readState() {
	if b, err := os.ReadFile(filepath.Join(r.work, "terraform.tfstate")); err == nil {
		r.res.State = b
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// maxCaptured caps captured command output (plan JSON, outputs).
const maxCaptured = 256 << 20

// capped is a buffer that stops growing at maxCaptured.
type capped struct {
	b    []byte
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if len(c.b)+len(p) > maxCaptured {
		c.over = true
		return len(p), nil
	}
	c.b = append(c.b, p...)
	return len(p), nil
}
