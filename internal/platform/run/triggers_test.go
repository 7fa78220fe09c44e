package run_test

import (
	"sync"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// planned creates a run in ws and plans it (with changes) up to planned.
func planned(t *testing.T, f *pt.Operator, ws workspace.Workspace) run.Run {
	t.Helper()
	ctx := pt.As(pt.Root)
	r, err := f.Svc.Runs.Create(ctx, ws.ID, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return plan(t, f, r.ID)
}

// plan plans queued run id up to planned.
func plan(t *testing.T, f *pt.Operator, id string) run.Run {
	t.Helper()
	job := claim(t, f, jobapi.Plan, id)
	r, err := f.Svc.Runs.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{HasChanges: true, Counts: run.ResourceCounts{Additions: 1}})
	if err != nil || r.Status != run.Planned {
		t.Fatalf("plan of %s = %s, %v", id, r.Status, err)
	}
	return r
}

// startApply confirms planned run id and claims its apply.
func startApply(t *testing.T, f *pt.Operator, id string) *run.ClaimedJob {
	t.Helper()
	if _, err := f.Svc.Runs.Apply(pt.As(pt.Root), id); err != nil {
		t.Fatal(err)
	}
	return claim(t, f, jobapi.Apply, id)
}

// apply confirms planned run id and applies it.
func apply(t *testing.T, f *pt.Operator, id string) run.Run {
	t.Helper()
	job := startApply(t, f, id)
	r, err := f.Svc.Runs.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{})
	if err != nil || r.Status != run.Applied {
		t.Fatalf("apply of %s = %s, %v", id, r.Status, err)
	}
	return r
}

func runsOf(t *testing.T, f *pt.Operator, ws workspace.Workspace) []run.Run {
	t.Helper()
	rs, _, err := f.Svc.Runs.Runs(pt.As(pt.Root), ws.ID, resource.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// triggeredBy checks that ws has exactly one run queued by source's
// apply and returns it.
func triggeredBy(t *testing.T, f *pt.Operator, ws workspace.Workspace, source run.Run, sourceWS string) run.Run {
	t.Helper()
	var out []run.Run
	for _, r := range runsOf(t, f, ws) {
		if r.SourceRunID == source.ID {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%s has %d runs triggered by %s; want 1", ws.Name, len(out), source.ID)
	}
	r := out[0]
	want := run.TriggeredMessage(source.ID, sourceWS)
	if r.SourceWorkspaceID != source.WorkspaceID || r.Message != want || r.AutoApply || r.PlanOnly ||
		r.CreatedBy != (resource.Writer{Kind: resource.WriterRun, ID: source.ID}) {
		t.Errorf("triggered run = %+v; want message %q, source workspace %s, created by run %s, not auto-applied", r, want, source.WorkspaceID, source.ID)
	}
	return r
}

func newTrigger(t *testing.T, f *pt.Operator, from, to workspace.Workspace) string {
	t.Helper()
	tr, err := f.Svc.RunTriggers.Create(pt.As(pt.Root), to.ID, from.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tr.ID
}

// TestRunTriggersFireDownTheChain: with manager → operator → c, an apply in
// manager queues one run in operator, whose apply queues one in c, whose
// apply queues nothing; a plan that ends without an apply queues nothing.
func TestRunTriggersFireDownTheChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		c, err := f.Svc.Workspaces.Create(pt.As(pt.Root), "acme", workspace.Options{Name: new("c")})
		if err != nil {
			t.Fatal(err)
		}
		for _, ws := range []workspace.Workspace{f.Mgr, f.Target, c} {
			uploaded(t, f, ws, false)
		}
		newTrigger(t, f, f.Mgr, f.Target)
		newTrigger(t, f, f.Target, c)

		// A discarded plan and a plan with nothing to change fire nothing.
		r := planned(t, f, f.Mgr)
		if _, err := f.Svc.Runs.Discard(pt.As(pt.Root), r.ID); err != nil {
			t.Fatal(err)
		}
		r, err = f.Svc.Runs.Create(pt.As(pt.Root), f.Mgr.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		job := claim(t, f, jobapi.Plan, r.ID)
		if r, err = f.Svc.Runs.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{}); err != nil || r.Status != run.PlannedAndFinished {
			t.Fatalf("plan without changes = %s, %v", r.Status, err)
		}
		if n := len(runsOf(t, f, f.Target)); n != 0 {
			t.Fatalf("operator has %d runs before any apply", n)
		}

		src := apply(t, f, planned(t, f, f.Mgr).ID)
		mid := triggeredBy(t, f, f.Target, src, "manager")
		if mid.Status != run.PlanQueued {
			t.Errorf("triggered run is %s; want plan_queued", mid.Status)
		}
		if n := len(runsOf(t, f, c)); n != 0 {
			t.Errorf("c has %d runs before operator applied", n)
		}
		plan(t, f, mid.ID)
		mid = apply(t, f, mid.ID)
		last := triggeredBy(t, f, c, mid, "operator")
		plan(t, f, last.ID)
		apply(t, f, last.ID)
		for ws, want := range map[workspace.Workspace]int{f.Mgr: 3, f.Target: 1, c: 1} {
			if n := len(runsOf(t, f, ws)); n != want {
				t.Errorf("%s has %d runs; want %d", ws.Name, n, want)
			}
		}
		if j, err := f.Svc.Runs.Claim(pt.As(pt.Root), ""); err != nil || j != nil {
			t.Errorf("after the chain, claim = %+v, %v; want nothing", j, err)
		}
	})
}

// TestRunTriggerOncePerApply: a repeated apply report queues nothing more;
// a triggered run waits behind the workspace's active run; a trigger
// deleted before the apply ends does not fire; a workspace without a
// configuration is passed over.
func TestRunTriggerOncePerApply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		uploaded(t, f, f.Mgr, false)
		empty, err := f.Svc.Workspaces.Create(pt.As(pt.Root), "acme", workspace.Options{Name: new("empty")})
		if err != nil {
			t.Fatal(err)
		}
		newTrigger(t, f, f.Mgr, empty)
		id := newTrigger(t, f, f.Mgr, f.Target)

		// operator has no configuration either: nothing to queue.
		apply(t, f, planned(t, f, f.Mgr).ID)
		if n := len(runsOf(t, f, f.Target)) + len(runsOf(t, f, empty)); n != 0 {
			t.Fatalf("%d runs queued in workspaces without configuration", n)
		}

		uploaded(t, f, f.Target, false)
		busy := planned(t, f, f.Target) // holds operator
		job := startApply(t, f, planned(t, f, f.Mgr).ID)
		src, err := f.Svc.Runs.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Runs.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{}); !fail.Is(err, fail.Conflict) {
			t.Errorf("second apply report: %v; want conflict", err)
		}
		waiting := triggeredBy(t, f, f.Target, src, "manager")
		if waiting.Status != run.Pending {
			t.Errorf("triggered run behind %s is %s; want pending", busy.ID, waiting.Status)
		}

		// Deleted before the next apply ends: it does not fire.
		job = startApply(t, f, planned(t, f, f.Mgr).ID)
		if err := f.Svc.RunTriggers.Delete(pt.As(pt.Root), id); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Runs.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{}); err != nil {
			t.Fatal(err)
		}
		if n := len(runsOf(t, f, f.Target)); n != 2 {
			t.Errorf("operator has %d runs after its trigger went; want 2", n)
		}
	})
}

// TestRunTriggerOnceAcrossNodes: two server nodes on one database receive
// the same apply's report at once; one wins, and the trigger queues one run.
func TestRunTriggerOnceAcrossNodes(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url := b.NewURL(t)
			f := pt.NewOperator(t, storetest.Open(t, url))
			other := pt.New(t, storetest.Open(t, url), nil)
			uploaded(t, f, f.Mgr, false)
			uploaded(t, f, f.Target, false)
			newTrigger(t, f, f.Mgr, f.Target)
			job := startApply(t, f, planned(t, f, f.Mgr).ID)

			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, svc := range []*run.Service{f.Svc.Runs, other.Svc.Runs} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = svc.FinishPhase(pt.As(pt.Root), job.PhaseID, run.PhaseReport{})
				}()
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) || (!fail.Is(errs[0], fail.Conflict) && !fail.Is(errs[1], fail.Conflict)) {
				t.Fatalf("reports = %v, %v; want one success and one conflict", errs[0], errs[1])
			}
			src := wantStatus(t, f, job.Run.ID, run.Applied)
			triggeredBy(t, f, f.Target, src, "manager")
			if n := len(runsOf(t, f, f.Target)); n != 1 {
				t.Errorf("operator has %d runs; want 1", n)
			}
		})
	}
}
