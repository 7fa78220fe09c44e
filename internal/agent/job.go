package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
)

// The causes of a phase's cancellation: errGone when the server took the
// phase away (force-canceled, job token revoked), errCancelRequested when a
// user asked to cancel it, which the agent does after storing what an
// interrupted apply left.
var (
	errGone            = errors.New("the run was taken from the agent")
	errCancelRequested = errors.New("the run was canceled")
)

// Do runs a claimed job to its end (its steps: see job.steps), with its
// log streamed to the server and the server watched for a cancellation,
// and reports how it ended: errors go to the run (errored, with a redacted
// message) and to the agent's log.
func (a *Agent) Do(ctx context.Context, j *jobapi.Job) { a.do(ctx, j, nil) }

// do is Do in the run directory of st, with its sandbox started ahead, if
// st is set; do ends st.
func (a *Agent) do(ctx context.Context, j *jobapi.Job, st *standby) {
	api := a.client.For(j)
	log := a.log.With("run_id", j.RunID, "phase", string(j.Phase), "workspace", j.Organization+"/"+j.Workspace)
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The time limit bounds the whole job, not only OpenTofu: a phase stuck
	// unpacking or obtaining credentials ends too.
	limit := phaseTimeout(a.cfg.PhaseTimeout, j.PhaseTimeout)
	overrun := fmt.Errorf("the phase ran past its time limit of %s", limit)
	jctx, stop := context.WithTimeoutCause(jctx, limit, overrun)
	defer stop()
	failing := false // the log's uploads fail: warn once, not every flush
	stream := newLogStream(api, a.cfg.Flush, func(err error) {
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
	go a.watch(jctx, api, cancel)

	started := time.Now()
	x := newJob(a, j, api, stream, cancel)
	if st != nil {
		// Given back last, whatever step the job reaches.
		x.standby = st
		x.undo = append(x.undo, func() { st.close(a) })
	}
	err := x.run(jctx)
	if err != nil && errors.Is(context.Cause(jctx), overrun) && !errors.Is(err, overrun) {
		err = errors.Join(overrun, err) // a step that ended on the deadline says only "deadline exceeded"
	}
	fin, red := x.fin, x.red
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
	// The phase ends only once its credentials are revoked and its run
	// directory is gone.
	<-x.given
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
	if ferr := a.finish(ctx, api, fin); ferr != nil {
		log.Error("finishing the phase failed; the server ends it once its job token expires", "err", ferr)
		return
	}
	log.Info("phase finished", "errored", fin.Errored, "took", time.Since(started))
}

// finish reports the phase's end, retrying with backoff while the server
// is unreachable (a restart), for up to finishFor; once the agent is
// stopping (ctx done), for a minute more at most.
func (a *Agent) finish(ctx context.Context, api *jobapi.JobClient, fin jobapi.Finish) error {
	deadline := time.Now().Add(finishFor)
	stopping := ctx.Done()
	wait := time.Second
	for {
		if ctx.Err() != nil {
			deadline = minTime(deadline, time.Now().Add(time.Minute))
			stopping = nil
		}
		rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		err := api.Finish(rctx, fin)
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
func (a *Agent) watch(ctx context.Context, api *jobapi.JobClient, cancel context.CancelCauseFunc) {
	t := time.NewTicker(a.cfg.Watch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := api.Status(ctx)
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
