package run_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/configversion"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

const mainTF = `resource "null_resource" "x" {}`

// uploaded makes an uploaded configuration version in ws.
func uploaded(t *testing.T, f *pt.Operator, ws workspace.Workspace, speculative bool) configversion.Version {
	t.Helper()
	cv, err := f.Svc.ConfigurationVersions.Create(pt.As(pt.Root), ws.ID, configversion.Options{
		AutoQueueRuns: new(bool), Speculative: &speculative})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Svc.ConfigurationVersions.Upload(pt.As(pt.Root), cv.UploadToken, tarGz(t, map[string]string{"main.tf": mainTF})); err != nil {
		t.Fatal(err)
	}
	return cv
}

func wantStatus(t *testing.T, f *pt.Operator, id string, want run.Status) run.Run {
	t.Helper()
	r, err := f.Svc.Runs.Run(pt.As(pt.Root), id)
	if err != nil || r.Status != want {
		t.Fatalf("run %s = %s, %v; want %s", id, r.Status, err, want)
	}
	return r
}

func claim(t *testing.T, f *pt.Operator, phase jobapi.Phase, runID string) *run.ClaimedJob {
	t.Helper()
	j, err := f.Svc.Runs.Claim(pt.As(pt.Root), "")
	if err != nil || j == nil || j.Phase != phase || j.Run.ID != runID {
		t.Fatalf("claim = %+v, %v; want %s of %s", j, err, phase, runID)
	}
	return j
}

// TestRunLifecycle drives a run through the agent interface from upload to
// applied, with the queue behind it.
func TestRunLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		cv := uploaded(t, f, f.Target, false)
		if got, err := f.Svc.ConfigurationVersions.Archive(ctx, cv.ID); err != nil || len(got) == 0 {
			t.Fatalf("archive = %d bytes, %v", len(got), err)
		}
		rn, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{Message: new("first")})
		if err != nil || rn.Status != run.PlanQueued || rn.ConfigurationVersionID != cv.ID {
			t.Fatalf("create = %+v, %v", rn, err)
		}
		second, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil || second.Status != run.Pending {
			t.Fatalf("second run = %s, %v; want pending", second.Status, err)
		}
		if j, err := f.Svc.Runs.Claim(ctx, "apool-Other1"); err != nil || j != nil {
			t.Fatalf("claim from another pool = %+v, %v", j, err)
		}
		job := claim(t, f, jobapi.Plan, rn.ID)
		if j, err := f.Svc.Runs.Claim(ctx, ""); err != nil || j != nil {
			t.Fatalf("second claim = %+v, %v; want nothing (second run waits)", j, err)
		}
		for _, chunk := range []string{"Terraform will perform ", "the following actions\n"} {
			if err := f.Svc.Runs.AppendLog(ctx, job.PhaseID, []byte(chunk)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Svc.Runs.StorePlanJSON(ctx, job.PhaseID, []byte(`{"format_version":"1.2"}`)); err != nil {
			t.Fatal(err)
		}
		if err := f.Svc.Runs.StorePlanJSON(ctx, job.PhaseID, []byte(`{not json`)); !fail.Is(err, fail.Invalid) {
			t.Errorf("bad plan JSON: %v", err)
		}
		r, err := f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{HasChanges: true, Counts: run.ResourceCounts{Additions: 1}})
		if err != nil || r.Status != run.Planned {
			t.Fatalf("finish plan = %s, %v", r.Status, err)
		}
		for _, st := range []run.Status{run.PlanQueued, run.Planning, run.Planned} {
			if r.Timestamps[st].IsZero() {
				t.Errorf("no %s timestamp", st)
			}
		}
		if err := f.Svc.Runs.AppendLog(ctx, job.PhaseID, []byte("late")); !fail.Is(err, fail.Conflict) {
			t.Errorf("log after plan ended: %v", err)
		}
		pv, err := f.Svc.Runs.PlanOrApply(ctx, r.PlanID)
		if err != nil || pv.Status != "finished" || pv.Counts.Additions != 1 || !pv.HasChanges {
			t.Fatalf("plan = %+v, %v", pv, err)
		}
		if got, err := f.Svc.Runs.PlanJSON(ctx, r.PlanID); err != nil || string(got) != `{"format_version":"1.2"}` {
			t.Fatalf("plan JSON = %q, %v", got, err)
		}
		content, err := f.Svc.Runs.ReadSigned(ctx, pv.LogToken)
		if err != nil || string(content.Data) != "Terraform will perform the following actions\n" || !content.Done {
			t.Fatalf("log = %q done=%v, %v", content.Data, content.Done, err)
		}
		// Refusals from planned: cancel is not allowed, a second plan report neither.
		if _, err := f.Svc.Runs.Cancel(ctx, rn.ID); !fail.Is(err, fail.Conflict) || !strings.Contains(err.Error(), "cannot be canceled: it is planned") {
			t.Errorf("cancel planned: %v", err)
		}
		if _, err := f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{}); !fail.Is(err, fail.Conflict) {
			t.Errorf("finish plan twice: %v", err)
		}
		if _, err := f.Svc.Runs.StoreStateVersion(ctx, rn.ID, []byte(`{"serial":1,"lineage":"l"}`)); !fail.Is(err, fail.Conflict) {
			t.Errorf("state while planned: %v", err)
		}
		if r, err = f.Svc.Runs.Apply(ctx, rn.ID); err != nil || r.Status != run.ApplyQueued || r.Timestamps[run.Confirmed].IsZero() {
			t.Fatalf("apply = %s, %v", r.Status, err)
		}
		if _, err := f.Svc.Runs.Apply(ctx, rn.ID); !fail.Is(err, fail.Conflict) || !strings.Contains(err.Error(), "cannot be applied: it is apply_queued") {
			t.Errorf("apply twice: %v", err)
		}
		job = claim(t, f, jobapi.Apply, rn.ID)
		sv, err := f.Svc.Runs.StoreStateVersion(ctx, rn.ID, []byte(`{"version":4,"serial":1,"lineage":"lin-1"}`))
		if err != nil || sv.Serial != 1 {
			t.Fatalf("store state = %+v, %v", sv, err)
		}
		// The same state again (an apply that changed nothing) is the
		// current version, not a new one and not an error.
		if again, err := f.Svc.Runs.StoreStateVersion(ctx, rn.ID, []byte(`{"version":4,"serial":1,"lineage":"lin-1"}`)); err != nil || again.ID != sv.ID {
			t.Fatalf("unchanged state = %+v, %v; want version %s", again, err, sv.ID)
		}
		for _, bad := range []string{`{"version":4,"serial":1,"lineage":"lin-1","x":1}`, `{"serial":0,"lineage":"lin-1"}`, `{"serial":2,"lineage":"other"}`} {
			if _, err := f.Svc.Runs.StoreStateVersion(ctx, rn.ID, []byte(bad)); !fail.Is(err, fail.Conflict) {
				t.Errorf("store state %s: %v, want conflict", bad, err)
			}
		}
		if _, err := f.Svc.Runs.StoreStateVersion(ctx, rn.ID, []byte(`{"lineage":"lin-1"}`)); !fail.Is(err, fail.Invalid) {
			t.Errorf("state without serial: %v", err)
		}
		if r, err = f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{Counts: run.ResourceCounts{Additions: 1}}); err != nil || r.Status != run.Applied {
			t.Fatalf("finish apply = %s, %v", r.Status, err)
		}
		cur, err := f.Svc.StateVersions.CurrentVersion(ctx, f.Target.ID)
		if err != nil || cur.ID != sv.ID {
			t.Fatalf("current state = %+v, %v", cur, err)
		}
		if c, err := f.Svc.Runs.ReadSigned(ctx, cur.DownloadToken); err != nil || !strings.Contains(string(c.Data), "lin-1") {
			t.Fatalf("download = %q, %v", c.Data, err)
		}
		if _, err := f.Svc.Runs.ReadSigned(ctx, cur.DownloadToken[:len(cur.DownloadToken)-2]+"AA"); !fail.Is(err, fail.NotFound) {
			t.Errorf("altered token: %v", err)
		}
		// The applied run released the workspace: the second run was promoted.
		wantStatus(t, f, second.ID, run.PlanQueued)
	})
}

// TestRunOutcomes covers the other ends: plan-only, no changes, auto-apply,
// discard, cancel and errors.
func TestRunOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Target, false)

		plan := func(o run.Options, res run.PhaseReport) run.Run {
			t.Helper()
			r, err := f.Svc.Runs.Create(ctx, f.Target.ID, o)
			if err != nil {
				t.Fatal(err)
			}
			j := claim(t, f, jobapi.Plan, r.ID)
			r, err = f.Svc.Runs.FinishPhase(ctx, j.PhaseID, res)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		changes := run.PhaseReport{HasChanges: true}
		if r := plan(run.Options{PlanOnly: new(true)}, changes); r.Status != run.PlannedAndFinished || r.ApplyStatus() != "unreachable" {
			t.Errorf("plan-only = %s / apply %s", r.Status, r.ApplyStatus())
		}
		if r := plan(run.Options{}, run.PhaseReport{}); r.Status != run.PlannedAndFinished {
			t.Errorf("no changes = %s", r.Status)
		}
		if r := plan(run.Options{AutoApply: new(true)}, changes); r.Status != run.ApplyQueued {
			t.Errorf("auto-apply = %s", r.Status)
		} else if _, err := f.Svc.Runs.Cancel(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		r := plan(run.Options{}, changes)
		if r, err := f.Svc.Runs.Discard(ctx, r.ID); err != nil || r.Status != run.Discarded {
			t.Fatalf("discard = %s, %v", r.Status, err)
		}
		if _, err := f.Svc.Runs.Discard(ctx, r.ID); !fail.Is(err, fail.Conflict) || !strings.Contains(err.Error(), "cannot be discarded: it is discarded") {
			t.Errorf("discard twice: %v", err)
		}

		// Cancel while planning asks the agent to stop; it ends the phase
		// canceled, after which its reports are refused.
		r, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		j := claim(t, f, jobapi.Plan, r.ID)
		if st, req, err := f.Svc.Runs.JobStatus(ctx, j.PhaseID); err != nil || st != run.Planning || req {
			t.Fatalf("job status before cancel = %s, %v, %v", st, req, err)
		}
		if r, err = f.Svc.Runs.Cancel(ctx, r.ID); err != nil || r.Status != run.Planning {
			t.Fatalf("cancel planning = %s, %v; want still planning", r.Status, err)
		}
		if st, req, err := f.Svc.Runs.JobStatus(ctx, j.PhaseID); err != nil || st != run.Planning || !req {
			t.Fatalf("job status after cancel = %s, %v, %v; want the request seen", st, req, err)
		}
		if r, err = f.Svc.Runs.FinishPhase(ctx, j.PhaseID, run.PhaseReport{Canceled: true}); err != nil || r.Status != run.Canceled || r.PlanStatus() != "canceled" {
			t.Fatalf("agent cancels the phase = %s, %v", r.Status, err)
		}
		if _, err := f.Svc.Runs.FinishPhase(ctx, j.PhaseID, changes); !fail.Is(err, fail.Conflict) {
			t.Errorf("finish canceled plan: %v", err)
		}

		// Force-cancel ends a running phase without its agent; it is refused
		// for a run that is not running.
		r, err = f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Runs.ForceCancel(ctx, r.ID); !fail.Is(err, fail.Conflict) {
			t.Errorf("force-cancel a queued run: %v", err)
		}
		j = claim(t, f, jobapi.Plan, r.ID)
		if r, err = f.Svc.Runs.ForceCancel(ctx, r.ID); err != nil || r.Status != run.Canceled {
			t.Fatalf("force-cancel planning = %s, %v", r.Status, err)
		}
		if _, err := f.Svc.Runs.FinishPhase(ctx, j.PhaseID, changes); !fail.Is(err, fail.Conflict) {
			t.Errorf("finish force-canceled plan: %v", err)
		}

		// Cancel a pending run; error a planning one.
		a, _ := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		b, _ := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		c, _ := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
		if b.Status != run.Pending || c.Status != run.Pending {
			t.Fatalf("queued runs = %s, %s", b.Status, c.Status)
		}
		if _, err := f.Svc.Runs.Cancel(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, f, c.ID, run.Pending) // canceling a pending run promotes nobody
		j = claim(t, f, jobapi.Plan, a.ID)
		if r, err := f.Svc.Runs.FinishPhase(ctx, j.PhaseID, run.PhaseReport{Errored: true, Message: "provider crashed"}); err != nil || r.Status != run.Errored || r.ErrorMessage != "provider crashed" {
			t.Fatalf("fail = %+v, %v", r, err)
		}
		wantStatus(t, f, c.ID, run.PlanQueued) // FIFO: c, not the canceled b
	})
}

// TestRunDenials: every run operation authorizes first.
func TestRunDenials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		cv := uploaded(t, f, f.Target, false)
		rn, err := f.Svc.Runs.Create(pt.As(pt.Root), f.Target.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		job := claim(t, f, jobapi.Plan, rn.ID)
		other := pt.Runner(f.Target.ID) // a token of run "run-Abc", not this run
		ctx := pt.As(pt.User)
		denied := map[string]func() error{
			"create cv": func() error {
				_, err := f.Svc.ConfigurationVersions.Create(ctx, f.Target.ID, configversion.Options{})
				return err
			},
			"read cv":    func() error { _, err := f.Svc.ConfigurationVersions.Version(ctx, cv.ID); return err },
			"archive":    func() error { _, err := f.Svc.ConfigurationVersions.Archive(ctx, cv.ID); return err },
			"create run": func() error { _, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{}); return err },
			"read run":   func() error { _, err := f.Svc.Runs.Run(ctx, rn.ID); return err },
			"list runs":  func() error { _, _, err := f.Svc.Runs.Runs(ctx, f.Target.ID, resource.Page{}); return err },
			"apply":      func() error { _, err := f.Svc.Runs.Apply(ctx, rn.ID); return err },
			"cancel":     func() error { _, err := f.Svc.Runs.Cancel(ctx, rn.ID); return err },
			"plan":       func() error { _, err := f.Svc.Runs.PlanOrApply(ctx, rn.PlanID); return err },
			"plan json":  func() error { _, err := f.Svc.Runs.PlanJSON(ctx, rn.PlanID); return err },
			"claim":      func() error { _, err := f.Svc.Runs.Claim(ctx, ""); return err },
			"append log": func() error { return f.Svc.Runs.AppendLog(ctx, job.PhaseID, []byte("x")) },
			"finish":     func() error { _, err := f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{}); return err },
			"state":      func() error { _, err := f.Svc.StateVersions.CurrentVersion(ctx, f.Target.ID); return err },
		}
		for name, call := range denied {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s: err = %v, want denied", name, err)
			}
		}
		// With the agent grant, a token bound to another run is still refused.
		f.Grants["runcred/orgs/acme/workspaces/operator/agent update"] = true
		if err := f.Svc.Runs.AppendLog(pt.As(other), job.PhaseID, []byte("x")); !fail.Is(err, fail.Denied) {
			t.Errorf("other run's token: %v", err)
		}
		// The grant alone does it, for a caller that is not bound to another run.
		user2 := access.Caller{Accessor: "acc-agent", DisplayName: "agent", Policies: []string{"agent"}}
		if err := f.Svc.Runs.AppendLog(pt.As(user2), job.PhaseID, []byte("x")); err != nil {
			t.Errorf("granted agent: %v", err)
		}
		if err := f.Svc.ConfigurationVersions.Upload(pt.As(pt.Root), "bogus", tarGz(t, map[string]string{"a.tf": ""})); !fail.Is(err, fail.NotFound) {
			t.Errorf("upload with bad token: %v", err)
		}
		if err := f.Svc.ConfigurationVersions.Upload(pt.As(pt.Root), cv.UploadToken, tarGz(t, map[string]string{"a.tf": ""})); !fail.Is(err, fail.Conflict) {
			t.Errorf("second upload: %v", err)
		}
	})
}

// TestAutoQueue: by default, as in HCP Terraform, an upload queues a run
// made by whoever created the configuration version.
func TestAutoQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		cv, err := f.Svc.ConfigurationVersions.Create(pt.As(pt.Root), f.Target.ID, configversion.Options{})
		if err != nil || !cv.AutoQueueRuns {
			t.Fatalf("cv = %+v, %v", cv, err)
		}
		if err := f.Svc.ConfigurationVersions.Upload(pt.As(pt.Root), cv.UploadToken, tarGz(t, map[string]string{"main.tf": mainTF})); err != nil {
			t.Fatal(err)
		}
		runs, total, err := f.Svc.Runs.Runs(pt.As(pt.Root), f.Target.ID, resource.Page{})
		if err != nil || total != 1 || runs[0].ConfigurationVersionID != cv.ID || runs[0].Status != run.PlanQueued ||
			runs[0].CreatedBy.Kind != resource.WriterUser || runs[0].CreatedBy.ID != "acc-root" {
			t.Fatalf("runs = %+v (total %d), %v", runs, total, err)
		}
	})
}
