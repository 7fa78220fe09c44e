package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/platform/run"
)

// streamFor bounds one event stream. The daemon's write deadline moves
// with the bytes written, so a quiet stream ends before it and the
// browser's EventSource reconnects where it left off (Last-Event-ID).
const streamFor = 25 * time.Second

// parseCursor reads an event id, "PLAN.APPLY": the byte offsets of the two
// logs already sent. Anything malformed starts from the beginning.
func parseCursor(s string) (plan, apply int) {
	a, b, ok := strings.Cut(s, ".")
	if !ok || len(s) > 40 {
		return 0, 0
	}
	p, err1 := strconv.Atoi(a)
	q, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || p < 0 || q < 0 {
		return 0, 0
	}
	return p, q
}

// runEvents streams a run's page updates as Server-Sent Events: "plan-log"
// and "apply-log" carry new log lines as HTML to append, "status" the new
// status when it changes (the page then fetches its summary again), and
// "done" once the run has ended and both logs are complete.
func (u *UI) runEvents(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx, id := r.Context(), r.PathValue("run")
	cur := r.Header.Get("Last-Event-ID")
	if cur == "" {
		cur = r.URL.Query().Get("from")
	}
	planAt, applyAt := parseCursor(cur)
	sent := r.URL.Query().Get("status")
	d, err := u.load(ctx, id, false, false)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(name, data string) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "event: %s\nid: %d.%d\n", name, planAt, applyAt)
		for _, line := range strings.Split(data, "\n") {
			fmt.Fprintf(&b, "data: %s\n", line)
		}
		b.WriteString("\n")
		_, _ = w.Write(b.Bytes())
	}
	_, _ = w.Write([]byte("retry: 1000\n\n"))
	end := time.Now().Add(streamFor)
	for first := true; ; first = false {
		changed := sent != string(d.Run.Status)
		if changed {
			sent = string(d.Run.Status)
			write("status", sent)
		}
		// A log grows only while its phase runs (and is complete when the
		// status moves on): a run that waits costs one status read a tick.
		if !first && !changed && d.Run.Status != run.Planning && d.Run.Status != run.Applying {
			_ = rc.Flush()
			if !pause(ctx, idlePoll, end) {
				return nil
			}
			if d, err = u.load(ctx, id, false, false); err != nil {
				return nil
			}
			continue
		}
		plan, err := u.phaseLog(ctx, d.Run.PlanID, planAt, d.Final)
		if err != nil {
			return nil // the stream has begun; the browser reconnects
		}
		apply, err := u.phaseLog(ctx, d.Run.ApplyID, applyAt, d.Final)
		if err != nil {
			return nil
		}
		if plan.Offset > planAt {
			planAt = plan.Offset
			write("plan-log", string(plan.HTML))
		}
		if apply.Offset > applyAt {
			applyAt = apply.Offset
			write("apply-log", string(apply.HTML))
		}
		if d.Final {
			// The logs were read whole above: nothing more will come.
			write("done", "")
			_ = rc.Flush()
			return nil
		}
		_ = rc.Flush()
		if !pause(ctx, u.cfg.PollInterval, end) {
			return nil
		}
		if d, err = u.load(ctx, id, false, false); err != nil {
			return nil
		}
	}
}

// idlePoll is how often a stream of a run that waits (queued, planned)
// looks for a change of status: a person acting on it sees the change
// within a second.
const idlePoll = time.Second

// pause waits d; false when the stream should end (the browser went away,
// or the stream's time is up).
func pause(ctx context.Context, d time.Duration, end time.Time) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return time.Now().Before(end)
}
