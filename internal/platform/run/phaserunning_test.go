package run_test

import (
	"testing"

	"github.com/runcred/runcred/internal/jobapi"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestPhaseRunning: the broker's JWT login asks whether the phase a run
// token names is in progress. A phase runs from its claim to its end; a
// run the platform does not know, or an id that is not a run's, is
// unknown.
func TestPhaseRunning(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)
		rn, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := func(runID, phase string, known, running bool) {
			t.Helper()
			k, r, err := f.Svc.Runs.PhaseRunning(ctx, runID, phase)
			if err != nil || k != known || r != running {
				t.Fatalf("PhaseRunning(%s, %s) = %v, %v, %v; want %v, %v", runID, phase, k, r, err, known, running)
			}
		}
		want(rn.ID, "plan", true, false) // queued
		job := claim(t, f, jobapi.Plan, rn.ID)
		want(rn.ID, "plan", true, true)
		want(rn.ID, "apply", true, false)
		want(rn.ID, "refresh", true, false)
		if _, err := f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{HasChanges: true}); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, f, rn.ID, run.Planned)
		want(rn.ID, "plan", true, false) // ended
		other := rn.ID[:len(rn.ID)-1] + map[bool]string{true: "b", false: "a"}[rn.ID[len(rn.ID)-1] == 'a']
		want(other, "plan", false, false)
		want("ws-"+rn.ID[4:], "plan", false, false)
		want("run-'; --", "plan", false, false)
	})
}
