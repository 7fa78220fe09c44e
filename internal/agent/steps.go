package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// job is one claimed phase as the agent carries it out: a list of steps
// (see steps), each leaving in job what the next ones need, and what they
// took (credentials, the run directory) to give back at the end.
type job struct {
	a      *Agent
	j      *jobapi.Job
	api    *jobapi.JobClient
	stream *logStream
	cancel context.CancelCauseFunc // stops the phase, e.g. when credentials cannot be renewed

	red      *phase.Redactor // every secret the phase handled
	in       *jobapi.Inputs
	vars     phaseVars
	dir      string // the run directory (0700)
	src      string // the unpacked configuration, inside dir
	creds    *creds.Result
	res      phase.Result
	canceled bool          // the phase ended canceled: only what must not be lost is stored
	fin      jobapi.Finish // the phase's report when it succeeded
	undo     []func()      // gives back what the steps took, newest last
	standby  *standby      // the run directory and a sandbox started ahead, if set
	giving   sync.Once     // starts giveBack
	given    chan struct{} // closed once giveBack is done
}

// step is one step of a job. A step runs when every step before it
// succeeded and the phase was not canceled; an always step runs whatever
// happened before it. After a last step that runs, nothing needs what the
// steps took (the credentials, the run directory), and giving it back
// starts at once, beside the steps that follow.
type step struct {
	do     func(context.Context) error
	always bool
	last   bool // the last step that uses the credentials or the run directory
}

func newJob(a *Agent, j *jobapi.Job, api *jobapi.JobClient, stream *logStream, cancel context.CancelCauseFunc) *job {
	// Every token the agent holds is masked, not only the phase's own.
	red := phase.NewRedactor(append([]secret.Value{api.Token(), j.RunToken, a.cfg.Token}, a.cfg.Secrets...)...)
	return &job{a: a, j: j, api: api, stream: stream, cancel: cancel, red: red, given: make(chan struct{})}
}

// steps is the job from the phase's inputs to what it produced, stored.
// Once OpenTofu has ended (runPhase), what the steps took is given back
// (giveBack: revokeCredentials, then removeRunDir) while what it produced,
// held in memory, is stored.
func (x *job) steps() []step {
	steps := []step{
		{do: x.readInputs},
		{do: x.makeRunDir},
		{do: x.unpack},
		{do: x.obtainCredentials},
		{do: x.runPhase, last: true},
	}
	if x.j.Phase == jobapi.Apply {
		// A failed, interrupted or canceled apply may still have changed
		// resources: its state is kept whatever happened.
		return append(steps, step{do: x.storeState, always: true})
	}
	return append(steps, step{do: x.countChanges}, step{do: x.storePlanJSON}, step{do: x.storePlan})
}

// run carries out the steps and returns every step's error. What they took
// is given back (the credentials revoked, the run directory removed) as
// soon as the last step that uses it has run, or when run returns, also on
// error, cancellation or panic; wait for it with given.
func (x *job) run(ctx context.Context) error {
	defer x.giveBack()
	var err error
	for _, s := range x.steps() {
		if !s.always && (err != nil || x.canceled) {
			continue
		}
		switch serr := s.do(ctx); {
		case serr == nil:
		case err == nil:
			err = serr
		default:
			err = errors.Join(err, serr)
		}
		if s.last {
			x.giveBack()
		}
	}
	return err
}

// giveBack starts giving back what the steps took, newest first, once;
// given is closed when that is done.
func (x *job) giveBack() {
	x.giving.Do(func() {
		go func() {
			defer close(x.given)
			for i := len(x.undo) - 1; i >= 0; i-- {
				x.undo[i]()
			}
		}()
	})
}

// readInputs downloads the configuration, variables, state and (apply) the
// saved plan, and sorts the variables; every sensitive value goes to the
// redactor, even when a variable is unusable.
func (x *job) readInputs(ctx context.Context) error {
	in, err := x.api.Inputs(ctx)
	if err != nil {
		return fmt.Errorf("reading the phase's inputs: %w", err)
	}
	x.in = in
	x.vars, err = splitVariables(in.Variables)
	for _, s := range x.vars.secrets {
		x.red.Add(s)
	}
	return err
}

func (x *job) makeRunDir(context.Context) error {
	if st := x.standby; st != nil {
		x.dir = st.dir // ended and removed by the job's first undo (do)
		return nil
	}
	dir, err := os.MkdirTemp(x.a.cfg.WorkDir, "runcred-run-")
	if err != nil {
		return err
	}
	x.dir = dir
	x.undo = append(x.undo, x.removeRunDir)
	return os.Chmod(dir, 0o700)
}

func (x *job) removeRunDir() {
	if err := phase.RemoveDir(x.dir); err != nil {
		x.a.log.Error("removing the run directory", "dir", x.dir, "err", err)
	}
}

func (x *job) unpack(ctx context.Context) error {
	x.src = filepath.Join(x.dir, "src")
	if err := unpack(ctx, x.in.Archive, x.src); err != nil {
		return fmt.Errorf("unpacking the configuration: %w", err)
	}
	return nil
}

// obtainCredentials gives the phase what its variables ask for, and keeps
// the renewable ones alive while it runs; a credential that cannot be
// renewed stops the phase.
func (x *job) obtainCredentials(ctx context.Context) error {
	j := x.j
	run := creds.Run{ID: j.RunID, Organization: j.Organization, Project: j.Project, Workspace: j.Workspace,
		WorkspaceID: j.WorkspaceID, Phase: j.Phase}
	cr, err := creds.Prepare(ctx, creds.Config{Dir: x.dir, Env: x.vars.env, Variables: x.in.Variables, Run: run, Minter: x.api,
		HTTPClient: x.a.cfg.VaultClient, OnSecret: x.red.Add})
	if err != nil {
		return fmt.Errorf("preparing credentials: %w", err)
	}
	x.creds = cr
	x.undo = append(x.undo, func() { x.revokeCredentials(ctx) })
	for _, s := range cr.Secrets {
		x.red.Add(s)
	}
	for _, k := range cr.Withheld {
		delete(x.vars.env, k)
		delete(x.vars.terraform, k)
		x.stream.Line(fmt.Sprintf("runcred: the variable %s holds the AppRole secret ID the agent logged in to Vault with; it is withheld from OpenTofu", k))
	}
	go func() {
		if err := cr.Start(ctx); err != nil {
			x.stream.Line("runcred: " + err.Error())
			x.cancel(err)
		}
	}()
	return nil
}

// revokeCredentials revokes the phase's credentials, even when the phase
// was canceled or the agent is stopping.
func (x *job) revokeCredentials(ctx context.Context) {
	c, done := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer done()
	if err := x.creds.Close(c); err != nil {
		x.a.log.Error("revoking the phase's credentials; the server's lease expiry will revoke them", "run_id", x.j.RunID, "err", err)
	}
}

// runPhase runs the hooks and OpenTofu. A credential that could not be
// renewed is the phase's error too.
func (x *job) runPhase(ctx context.Context) error {
	a, j := x.a, x.j
	if a.box == nil {
		x.stream.Line(noneWarning)
		x.stream.Line("")
	}
	res, err := phase.Run(ctx, phase.Spec{
		Phase: j.Phase, Binary: a.cfg.Binary, Dir: x.dir, ConfigDir: x.src, WorkingDir: j.WorkingDirectory, Destroy: j.IsDestroy,
		NoRefresh: j.NoRefresh, RefreshOnly: j.RefreshOnly, Targets: j.TargetAddrs, Replaces: j.ReplaceAddrs,
		TerraformVars: x.vars.terraform, Env: mergeEnv(runTokenEnv(a.cfg.Server, j.RunToken), x.vars.env, x.creds.Env, builtins(j)), HooksDir: a.cfg.HooksDir,
		PlanFile: x.in.PlanFile, State: x.in.State, ProviderMirror: a.cfg.ProviderMirror,
		Secrets:  append(append([]secret.Value{x.api.Token(), j.RunToken}, x.vars.secrets...), x.creds.Secrets...),
		Redactor: x.red, Log: x.stream.Line, Timeout: phaseTimeout(a.cfg.PhaseTimeout, j.PhaseTimeout), Sandbox: a.box,
		Standby: x.standby.phase(),
	})
	x.res = res
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, errGone) && !errors.Is(c, errCancelRequested) {
		err = errors.Join(err, c)
	}
	x.canceled = context.Cause(ctx) != nil
	return err
}

// storePlan uploads the saved plan for the apply that may follow. A
// speculative plan, or one without changes, ends the run (as the server's
// afterPlan decides): no apply will read it, so it is not sent.
func (x *job) storePlan(ctx context.Context) error {
	if x.j.PlanOnly || !x.fin.HasChanges {
		return nil
	}
	if err := x.api.StorePlanFile(ctx, x.res.Plan); err != nil {
		return fmt.Errorf("storing the plan: %w", err)
	}
	return nil
}

// storePlanJSON stores the JSON plan with every secret the phase handled
// masked.
func (x *job) storePlanJSON(ctx context.Context) error {
	planJSON, err := scrubPlanJSON(x.res.PlanJSON, x.red)
	if err != nil {
		return err
	}
	if err := x.api.StorePlanJSON(ctx, planJSON); err != nil {
		return fmt.Errorf("storing the JSON plan: %w", err)
	}
	return nil
}

// countChanges reports what the plan would change. It counts from the
// JSON plan as OpenTofu wrote it: a mask can fall inside a key or an
// action name ("create" holds a sensitive "te").
func (x *job) countChanges(context.Context) error {
	fin, err := planCounts(x.res.PlanJSON)
	if err == nil && x.j.RefreshOnly && !fin.HasChanges {
		// A refresh-only plan's changes are what the refresh found.
		fin.HasChanges, err = drifted(x.res.PlanJSON)
	}
	x.fin = fin
	return err
}

// storeState uploads an apply's state, even when the phase was canceled or
// the agent is stopping, trying a few times. If it cannot, the state is
// kept in the agent's work directory (0600) and the error names the file:
// the run directory, the only other copy, is about to be removed.
func (x *job) storeState(ctx context.Context) error {
	state := x.res.State
	if len(state) == 0 {
		return nil
	}
	a, j := x.a, x.j
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	var err error
	for attempt, wait := 0, time.Second; attempt < 6; attempt, wait = attempt+1, wait*2 {
		if err = x.api.StoreState(ctx, state); err == nil || jobapi.Gone(err) || isRefusal(err) {
			break
		}
		a.log.Warn("storing the state; retrying", "run_id", j.RunID, "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	if err == nil {
		return nil
	}
	dir := a.cfg.WorkDir
	if dir == "" {
		dir = os.TempDir()
	}
	kept := filepath.Join(dir, "runcred-unsaved-"+j.RunID+".tfstate")
	if werr := os.WriteFile(kept, state, 0o600); werr != nil {
		a.log.Error("the apply's state could not be stored or kept", "run_id", j.RunID, "err", err, "keep_err", werr)
		return fmt.Errorf("storing the state: %w (and it could not be kept: %v)", err, werr)
	}
	a.log.Error("the apply's state could not be stored; kept on the agent", "run_id", j.RunID, "file", kept, "err", err)
	return fmt.Errorf("storing the state: %w; the agent kept it in %s", err, kept)
}

// phaseTimeout is the bound on a phase: the agent's own, or the
// workspace's when that is shorter.
func phaseTimeout(agent, workspace time.Duration) time.Duration {
	if workspace > 0 && workspace < agent {
		return workspace
	}
	return agent
}
