package run_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestAbandonStalePhases: a phase no agent reported on for longer than a
// job token lives is ended errored, freeing its workspace for the next
// run; a younger one is left alone.
func TestAbandonStalePhases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)
		stale, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		next, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		claim(t, f, jobapi.Plan, stale.ID)
		f.Clock.Add(run.JobTokenTTL)
		if n, err := f.Svc.Runs.AbandonStalePhases(context.Background()); err != nil || n != 0 {
			t.Fatalf("at the job token's TTL: %d abandoned, %v; want none", n, err)
		}
		wantStatus(t, f, stale.ID, run.Planning)
		f.Clock.Add(time.Second)
		if n, err := f.Svc.Runs.AbandonStalePhases(context.Background()); err != nil || n != 1 {
			t.Fatalf("past the TTL: %d abandoned, %v; want 1", n, err)
		}
		r := wantStatus(t, f, stale.ID, run.Errored)
		if !strings.Contains(r.ErrorMessage, "abandoned") {
			t.Errorf("error message = %q", r.ErrorMessage)
		}
		wantStatus(t, f, next.ID, run.PlanQueued)
	})
}

// TestSavedPlanGoesWithTheRun: the saved plan (which holds the run's
// variable values) is kept, sealed, while the run may still apply it and
// removed once the run is over.
func TestSavedPlanGoesWithTheRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)
		r, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		j := claim(t, f, jobapi.Plan, r.ID)
		if err := f.Svc.Runs.StorePlanFile(ctx, j.PhaseID, []byte("saved-plan-bytes")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Runs.FinishPhase(ctx, j.PhaseID, run.PhaseReport{HasChanges: true, Counts: run.ResourceCounts{Additions: 1}}); err != nil {
			t.Fatal(err)
		}
		kept := func() bool {
			var b []byte
			if err := db.QueryRow(context.Background(), `SELECT plan_file FROM runs WHERE id = ?`, r.ID).Scan(&b); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("saved-plan-bytes")) {
				t.Fatal("the saved plan is stored in the clear")
			}
			return len(b) > 0
		}
		if !kept() {
			t.Fatal("a planned run lost its saved plan")
		}
		if _, err := f.Svc.Runs.Discard(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if kept() {
			t.Fatal("a discarded run kept its saved plan")
		}
	})
}

// TestCancelRequestDoesNotOutliveItsPhase: a cancel asked while a plan
// runs, which the plan finishes before the agent sees, cancels the run;
// it never reaches the apply.
func TestCancelRequestDoesNotOutliveItsPhase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)
		r, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{AutoApply: new(true)})
		if err != nil {
			t.Fatal(err)
		}
		j := claim(t, f, jobapi.Plan, r.ID)
		if _, err := f.Svc.Runs.Cancel(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if r, err = f.Svc.Runs.FinishPhase(ctx, j.PhaseID, run.PhaseReport{HasChanges: true}); err != nil || r.Status != run.Canceled {
			t.Fatalf("plan finished after a cancel request = %s, %v; want canceled", r.Status, err)
		}

		// A run whose phase ended otherwise starts its next phase clean.
		r, err = f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		j = claim(t, f, jobapi.Plan, r.ID)
		if _, err := f.Svc.Runs.Cancel(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Runs.FinishPhase(ctx, j.PhaseID, run.PhaseReport{Errored: true, Message: "boom"}); err != nil {
			t.Fatal(err)
		}
		var req int
		if err := db.QueryRow(context.Background(), `SELECT cancel_requested FROM runs WHERE id = ?`, r.ID).Scan(&req); err != nil || req != 0 {
			t.Fatalf("cancel_requested after the phase ended = %d, %v", req, err)
		}
	})
}
