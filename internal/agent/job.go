package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// The causes of a phase's cancellation: errGone when the server took the
// phase away (force-canceled, job token revoked), errCancelRequested when a
// user asked to cancel it, which the agent does after storing what an
// interrupted apply left.
var (
	errGone            = errors.New("the run was taken from the agent")
	errCancelRequested = errors.New("the run was canceled")
)

// Do runs a claimed job to its end and reports how it ended: errors go to
// the run (errored, with a redacted message) and to the agent's log.
func (a *Agent) Do(ctx context.Context, j *jobapi.Job) {
	ph := a.client.For(j)
	log := a.log.With("run_id", j.RunID, "phase", j.Phase, "workspace", j.Organization+"/"+j.Workspace)
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	failing := false // the log's uploads fail: warn once, not every flush
	stream := newLogStream(ph, a.cfg.Flush, func(err error) {
		switch {
		case err == nil && failing:
			failing = false
			log.Info("uploading the log works again")
		case err == nil:
		case jobapi.Gone(err):
			cancel(errGone)
		case !failing:
			failing = true
			log.Warn("uploading the log; it is kept and sent again", "err", err)
		}
	})
	go a.watch(jctx, ph, cancel)

	started := time.Now()
	fin, red, err := a.execute(jctx, j, ph, stream, cancel)
	// Reports go out even when the agent is stopping.
	report, done := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer done()
	cause := context.Cause(jctx)
	switch {
	case errors.Is(cause, errCancelRequested):
		stream.Line("")
		stream.Line("Canceled by request: OpenTofu was interrupted.")
	case err != nil:
		stream.Line("")
		stream.Line("Error: " + red.RedactString(err.Error()))
	}
	stream.Close(report)
	switch {
	case errors.Is(cause, errGone):
		log.Info("phase taken away by the server", "took", time.Since(started))
		return
	case errors.Is(cause, errCancelRequested):
		fin = jobapi.Finish{Canceled: true}
	case err != nil:
		fin = jobapi.Finish{Errored: true, Message: red.RedactString(err.Error())}
		if ctx.Err() != nil {
			fin.Message = "the agent stopped during the phase"
		}
	}
	if ferr := a.finish(ctx, ph, fin); ferr != nil {
		log.Error("finishing the phase failed; the server ends it once its job token expires", "err", ferr)
		return
	}
	log.Info("phase finished", "errored", fin.Errored, "took", time.Since(started))
}

// finish reports the phase's end, retrying with backoff while the server
// is unreachable (a restart), for up to finishFor; once the agent is
// stopping (ctx done), for a minute more at most.
func (a *Agent) finish(ctx context.Context, ph *jobapi.JobClient, fin jobapi.Finish) error {
	deadline := time.Now().Add(finishFor)
	stopping := ctx.Done()
	wait := time.Second
	for {
		if ctx.Err() != nil {
			deadline = minTime(deadline, time.Now().Add(time.Minute))
			stopping = nil
		}
		rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		err := ph.Finish(rctx, fin)
		cancel()
		if err == nil || jobapi.Gone(err) || isRefusal(err) || !time.Now().Add(wait).Before(deadline) {
			return err
		}
		a.log.Warn("finishing the phase; retrying", "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-stopping:
		}
		wait = min(2*wait, time.Minute)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// finishFor bounds the retries of a phase's last report.
const finishFor = 30 * time.Minute

// isRefusal reports whether the server answered err (so trying again
// would get the same answer), rather than not answering.
func isRefusal(err error) bool {
	var e *jobapi.Error
	return errors.As(err, &e) && e.Status < 500
}

// watch cancels the phase when the server no longer has it running.
func (a *Agent) watch(ctx context.Context, ph *jobapi.JobClient, cancel context.CancelCauseFunc) {
	t := time.NewTicker(a.cfg.Watch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := ph.Status(ctx)
		switch {
		case jobapi.Gone(err) || (err == nil && st.Status != "planning" && st.Status != "applying"):
			cancel(errGone)
			return
		case err == nil && st.CancelRequested:
			cancel(errCancelRequested)
			return
		}
	}
}

// execute runs the phase in a fresh run directory and uploads what it
// produced. The redactor it returns knows every secret the phase handled.
func (a *Agent) execute(ctx context.Context, j *jobapi.Job, ph *jobapi.JobClient, stream *logStream,
	cancel context.CancelCauseFunc) (jobapi.Finish, *phase.Redactor, error) {
	red := phase.NewRedactor(ph.Token())
	in, err := ph.Inputs(ctx)
	if err != nil {
		return jobapi.Finish{}, red, fmt.Errorf("reading the phase's inputs: %w", err)
	}
	vars, err := splitVariables(in.Variables)
	for _, s := range vars.secrets {
		red.Add(s)
	}
	if err != nil {
		return jobapi.Finish{}, red, err
	}

	dir, err := os.MkdirTemp(a.cfg.WorkDir, "runcred-run-")
	if err != nil {
		return jobapi.Finish{}, red, err
	}
	defer func() {
		if err := phase.RemoveDir(dir); err != nil {
			a.log.Error("removing the run directory", "dir", dir, "err", err)
		}
	}()
	if err := os.Chmod(dir, 0o700); err != nil {
		return jobapi.Finish{}, red, err
	}
	src := filepath.Join(dir, "src")
	if err := unpack(in.Archive, src); err != nil {
		return jobapi.Finish{}, red, fmt.Errorf("unpacking the configuration: %w", err)
	}

	run := creds.Run{ID: j.RunID, Organization: j.Organization, Project: j.Project, Workspace: j.Workspace,
		WorkspaceID: j.WorkspaceID, Phase: j.Phase}
	cr, err := creds.Prepare(ctx, creds.Config{Dir: dir, Env: vars.env, Run: run, Minter: ph, HTTPClient: a.cfg.VaultClient})
	if err != nil {
		return jobapi.Finish{}, red, fmt.Errorf("preparing credentials: %w", err)
	}
	defer func() {
		// Revocation must happen even when the phase was canceled.
		c, done := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer done()
		if err := cr.Close(c); err != nil {
			a.log.Error("revoking the phase's credentials; the server's lease expiry will revoke them", "run_id", j.RunID, "err", err)
		}
	}()
	for _, s := range cr.Secrets {
		red.Add(s)
	}
	go func() {
		if err := cr.Start(ctx); err != nil {
			stream.Line("runcred: " + err.Error())
			cancel(err)
		}
	}()

	env := mergeEnv(vars.env, cr.Env, builtins(j))
	res, err := phase.Run(ctx, phase.Spec{
		Phase: j.Phase, Binary: a.cfg.Binary, Dir: dir, ConfigDir: src, WorkingDir: j.WorkingDirectory, Destroy: j.IsDestroy,
		TerraformVars: vars.terraform, Env: env, HooksDir: a.cfg.HooksDir, PlanFile: in.PlanFile, State: in.State,
		ProviderMirror: a.cfg.ProviderMirror, Secrets: append(append([]secret.Value{ph.Token()}, vars.secrets...), cr.Secrets...),
		Redactor: red, Log: stream.Line, Timeout: a.cfg.PhaseTimeout,
	})
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, errGone) && !errors.Is(c, errCancelRequested) {
		err = errors.Join(err, c)
	}
	if j.Phase == jobapi.Apply {
		// A failed, interrupted or canceled apply may still have changed
		// resources: its state is kept whatever happened.
		if len(res.State) > 0 {
			if serr := a.storeState(ctx, j, ph, res.State); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		return jobapi.Finish{}, red, err
	}
	if context.Cause(ctx) != nil {
		return jobapi.Finish{}, red, err
	}
	if err != nil {
		return jobapi.Finish{}, red, err
	}
	if err := ph.StorePlanFile(ctx, res.Plan); err != nil {
		return jobapi.Finish{}, red, fmt.Errorf("storing the plan: %w", err)
	}
	planJSON, err := scrubPlanJSON(res.PlanJSON, red)
	if err != nil {
		return jobapi.Finish{}, red, err
	}
	if err := ph.StorePlanJSON(ctx, planJSON); err != nil {
		return jobapi.Finish{}, red, fmt.Errorf("storing the JSON plan: %w", err)
	}
	// Counted before scrubbing: a mask can fall inside a key or an action
	// name ("create" holds a sensitive "te").
	fin, err := planCounts(res.PlanJSON)
	return fin, red, err
}

// storeState uploads an apply's state, even when the phase was canceled or
// the agent is stopping, trying a few times. If it cannot, the state is
// kept in the agent's work directory (0600) and the error names the file:
// the run directory, the only other copy, is about to be removed.
func (a *Agent) storeState(ctx context.Context, j *jobapi.Job, ph *jobapi.JobClient, state []byte) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	var err error
	for attempt, wait := 0, time.Second; attempt < 6; attempt, wait = attempt+1, wait*2 {
		if err = ph.StoreState(ctx, state); err == nil || jobapi.Gone(err) || isRefusal(err) {
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

// planCounts reads what a plan would change from its JSON form. Imports,
// moves and forgets change the state without changing a resource, and are
// changes too: a plan of only those must be applied.
func planCounts(b []byte) (jobapi.Finish, error) {
	var p struct {
		ResourceChanges []struct {
			PreviousAddress string `json:"previous_address"`
			Address         string `json:"address"`
			Change          struct {
				Actions   []string        `json:"actions"`
				Importing json.RawMessage `json:"importing"`
			} `json:"change"`
		} `json:"resource_changes"`
		OutputChanges map[string]struct {
			Actions []string `json:"actions"`
		} `json:"output_changes"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return jobapi.Finish{}, fmt.Errorf("reading the JSON plan: %w", err)
	}
	var f jobapi.Finish
	for _, rc := range p.ResourceChanges {
		for _, a := range rc.Change.Actions {
			switch a {
			case "create":
				f.Additions++
			case "update":
				f.Changes++
			case "delete":
				f.Destructions++
			case "forget":
				f.HasChanges = true
			}
		}
		if len(rc.Change.Importing) > 0 && string(rc.Change.Importing) != "null" ||
			rc.PreviousAddress != "" && rc.PreviousAddress != rc.Address {
			f.HasChanges = true
		}
	}
	f.HasChanges = f.HasChanges || f.Additions+f.Changes+f.Destructions > 0
	for _, oc := range p.OutputChanges {
		for _, a := range oc.Actions {
			if a != "no-op" {
				f.HasChanges = true
			}
		}
	}
	return f, nil
}

// scrubPlanJSON replaces every secret the phase handled, wherever it
// appears in a string, an object key or a number of the JSON plan, with the
// redactor's mask. Terraform writes sensitive variables' values into `show
// -json` output in the clear; the plan kept for policy checks must not hold
// them. A number holding a secret becomes the mask as a string; keys that
// collide once masked are numbered. Other numbers are kept as written.
func scrubPlanJSON(b []byte, red *phase.Redactor) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("reading the JSON plan: %w", err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			return red.RedactString(t)
		case json.Number:
			if s := red.RedactString(string(t)); s != string(t) {
				return s
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			out := make(map[string]any, len(t))
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys) // collisions are numbered the same way every time
			for _, k := range keys {
				nk := red.RedactString(k)
				for i := 2; nk != k; i++ {
					if _, taken := out[nk]; !taken {
						if _, orig := t[nk]; !orig {
							break
						}
					}
					nk = red.RedactString(k) + "-" + strconv.Itoa(i)
				}
				out[nk] = walk(t[k])
			}
			return out
		}
		return v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(walk(v)); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}
