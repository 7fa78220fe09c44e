package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// agent drives the run engine's side through the service, as the agent will.
type agent struct {
	t   *testing.T
	svc *platform.Service
}

func (a agent) claim(phase jobapi.Phase, runID string) string {
	a.t.Helper()
	j, err := a.svc.Runs.Claim(rootCtx(), "")
	if err != nil || j == nil || j.Phase != phase || j.Run.ID != runID {
		a.t.Fatalf("claim = %+v, %v; want %s of %s", j, err, phase, runID)
	}
	return j.PhaseID
}

func (a agent) plan(runID string, changes bool) {
	a.t.Helper()
	id := a.claim(jobapi.Plan, runID)
	if err := a.svc.Runs.AppendLog(rootCtx(), id, []byte("Plan: 1 to add, 0 to change, 0 to destroy.\n")); err != nil {
		a.t.Fatal(err)
	}
	if err := a.svc.Runs.StorePlanJSON(rootCtx(), id, []byte(`{"format_version":"1.2","resource_changes":[]}`)); err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.svc.Runs.FinishPhase(rootCtx(), id, run.PhaseReport{HasChanges: changes, Counts: run.ResourceCounts{Additions: 1}}); err != nil {
		a.t.Fatal(err)
	}
}

func readRun(t *testing.T, c *tfe.Client, id string, want tfe.RunStatus) *tfe.Run {
	t.Helper()
	r, err := c.Runs.Read(context.Background(), id)
	if err != nil || r.Status != want {
		t.Fatalf("run %s: status %v, %v; want %s", id, statusOf(r), err, want)
	}
	return r
}

func statusOf(r *tfe.Run) tfe.RunStatus {
	if r == nil {
		return ""
	}
	return r.Status
}

// TestGoTFERuns: upload, plan, apply and state, driven by go-tfe on one
// side and the agent interface on the other.
func TestGoTFERuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		ag := agent{t, e.svc}
		if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@acme.test")}); err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
		if err != nil {
			t.Fatal(err)
		}

		// Configuration: create, upload a real directory with go-tfe's packer, read.
		cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
		if err != nil || cv.Status != tfe.ConfigurationPending || !strings.Contains(cv.UploadURL, "/api/v2/signed/") {
			t.Fatalf("create cv = %+v, %v", cv, err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "null_resource" "x" {}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
			t.Fatalf("upload: %v", err)
		}
		if cv, err = c.ConfigurationVersions.Read(ctx, cv.ID); err != nil || cv.Status != tfe.ConfigurationUploaded {
			t.Fatalf("read cv = %+v, %v", cv, err)
		}
		if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err == nil {
			t.Error("second upload to the same version accepted")
		}
		bad, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ConfigurationVersions.UploadTarGzip(ctx, bad.UploadURL, strings.NewReader("not a tar.gz")); err == nil || !strings.Contains(err.Error(), "422") {
			t.Errorf("bad archive: %v", err)
		}
		if bad, err = c.ConfigurationVersions.Read(ctx, bad.ID); err != nil || bad.Status != tfe.ConfigurationPending {
			t.Errorf("bad archive's version = %+v, %v", bad, err)
		}
		if err := c.ConfigurationVersions.UploadTarGzip(ctx, e.url+"/api/v2/signed/forged", strings.NewReader("x")); err == nil {
			t.Error("upload to a forged URL accepted")
		}

		// A run, and a second one queued behind it.
		rn, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cv, Message: tfe.String("first")})
		if err != nil || rn.Status != tfe.RunPlanQueued || rn.Plan == nil || rn.Apply == nil || rn.Message != "first" {
			t.Fatalf("create run = %+v, %v", rn, err)
		}
		queued, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws}) // latest configuration
		if err != nil || queued.Status != tfe.RunPending {
			t.Fatalf("second run = %v, %v", statusOf(queued), err)
		}
		ag.plan(rn.ID, true)
		rn = readRun(t, c, rn.ID, tfe.RunPlanned)
		ts := rn.StatusTimestamps
		if ts == nil || ts.PlanQueuedAt.IsZero() || ts.PlanningAt.IsZero() || ts.PlannedAt.IsZero() || !ts.AppliedAt.IsZero() {
			t.Fatalf("timestamps = %+v", ts)
		}
		if rn.Actions == nil || !rn.Actions.IsConfirmable || !rn.Actions.IsDiscardable || rn.Actions.IsCancelable {
			t.Errorf("actions = %+v", rn.Actions)
		}
		p, err := c.Plans.Read(ctx, rn.Plan.ID)
		if err != nil || p.Status != tfe.PlanFinished || !p.HasChanges || p.ResourceAdditions != 1 {
			t.Fatalf("plan = %+v, %v", p, err)
		}
		logs, err := c.Plans.Logs(ctx, rn.Plan.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(logs); err != nil || string(b) != "Plan: 1 to add, 0 to change, 0 to destroy.\n" {
			t.Fatalf("plan log = %q, %v", b, err)
		}
		if j, err := c.Plans.ReadJSONOutput(ctx, rn.Plan.ID); err != nil || !bytes.Contains(j, []byte(`"format_version":"1.2"`)) {
			t.Fatalf("plan JSON = %s, %v", j, err)
		}
		if err := c.Runs.Cancel(ctx, rn.ID, tfe.RunCancelOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be canceled: it is planned") {
			t.Errorf("cancel planned run: %v", err)
		}

		// Apply, state, and the queue moving on.
		if err := c.Runs.Apply(ctx, rn.ID, tfe.RunApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		readRun(t, c, rn.ID, tfe.RunApplyQueued)
		applyID := ag.claim(jobapi.Apply, rn.ID)
		readRun(t, c, queued.ID, tfe.RunPending)
		if _, err := e.svc.Runs.StoreStateVersion(rootCtx(), rn.ID, []byte(`{"version":4,"serial":1,"lineage":"lin-1","resources":[]}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Runs.AppendLog(rootCtx(), applyID, []byte("Apply complete!\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Runs.FinishPhase(rootCtx(), applyID, run.PhaseReport{Counts: run.ResourceCounts{Additions: 1}}); err != nil {
			t.Fatal(err)
		}
		rn = readRun(t, c, rn.ID, tfe.RunApplied)
		if rn.StatusTimestamps.ConfirmedAt.IsZero() || rn.StatusTimestamps.AppliedAt.IsZero() || rn.StatusTimestamps.ApplyingAt.IsZero() {
			t.Errorf("timestamps = %+v", rn.StatusTimestamps)
		}
		if a, err := c.Applies.Read(ctx, rn.Apply.ID); err != nil || a.Status != tfe.ApplyFinished || a.ResourceAdditions != 1 {
			t.Fatalf("apply = %+v, %v", a, err)
		}
		logs, err = c.Applies.Logs(ctx, rn.Apply.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(logs); err != nil || string(b) != "Apply complete!\n" {
			t.Fatalf("apply log = %q, %v", b, err)
		}
		sv, err := c.StateVersions.ReadCurrent(ctx, ws.ID)
		if err != nil || sv.Serial != 1 || sv.Run == nil || sv.Run.ID != rn.ID {
			t.Fatalf("current state = %+v, %v", sv, err)
		}
		if b, err := c.StateVersions.Download(ctx, sv.DownloadURL); err != nil || !bytes.Contains(b, []byte(`"lineage":"lin-1"`)) {
			t.Fatalf("download = %s, %v", b, err)
		}
		if l, err := c.StateVersions.List(ctx, &tfe.StateVersionListOptions{Organization: "acme", Workspace: "net"}); err != nil || len(l.Items) != 1 || l.Items[0].ID != sv.ID {
			t.Fatalf("list states = %+v, %v", l, err)
		}
		if got, err := c.StateVersions.Read(ctx, sv.ID); err != nil || got.Serial != 1 {
			t.Fatalf("read state = %+v, %v", got, err)
		}
		readRun(t, c, queued.ID, tfe.RunPlanQueued)
		if err := c.Runs.Cancel(ctx, queued.ID, tfe.RunCancelOptions{}); err != nil {
			t.Fatal(err)
		}
		readRun(t, c, queued.ID, tfe.RunCanceled)

		// Discard; then plan-only and auto-apply.
		d, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
		if err != nil {
			t.Fatal(err)
		}
		ag.plan(d.ID, true)
		if err := c.Runs.Discard(ctx, d.ID, tfe.RunDiscardOptions{}); err != nil {
			t.Fatal(err)
		}
		readRun(t, c, d.ID, tfe.RunDiscarded)
		if err := c.Runs.Apply(ctx, d.ID, tfe.RunApplyOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be applied: it is discarded") {
			t.Errorf("apply discarded run: %v", err)
		}
		po, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, PlanOnly: tfe.Bool(true)})
		if err != nil || !po.PlanOnly {
			t.Fatalf("plan-only run = %+v, %v", po, err)
		}
		ag.plan(po.ID, true)
		readRun(t, c, po.ID, tfe.RunPlannedAndFinished)
		aa, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, AutoApply: tfe.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		ag.plan(aa.ID, true)
		readRun(t, c, aa.ID, tfe.RunApplyQueued)

		list, err := c.Runs.List(ctx, ws.ID, nil)
		if err != nil || list.TotalCount != 5 || list.Items[0].ID != aa.ID {
			t.Fatalf("list runs = %d items (total %d), %v", len(list.Items), list.TotalCount, err)
		}

		// Someone without grants sees none of it.
		u := e.client(t, "user-token")
		if _, err := u.Runs.Read(ctx, rn.ID); err != tfe.ErrResourceNotFound {
			t.Errorf("user reads run: %v", err)
		}
		if _, err := u.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws}); err != tfe.ErrResourceNotFound {
			t.Errorf("user creates run: %v", err)
		}
		if _, err := u.Plans.ReadJSONOutput(ctx, rn.Plan.ID); err != tfe.ErrResourceNotFound {
			t.Errorf("user reads plan JSON: %v", err)
		}
	})
}

// TestRunOptions: the plan options runcred implements are taken and
// shown in the run document; those it does not are refused when set,
// never silently dropped, and their defaults accepted; a wrongly typed
// option is a 422 naming it. Runs are plan-only and queue behind one
// another: nothing here runs them.
func TestRunOptions(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)))
	c := e.client(t, "root-token")
	ctx := ctxT(t)
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@acme.test")}); err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "random_pet" "x" {}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
		t.Fatal(err)
	}
	r, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, PlanOnly: tfe.Bool(true), Refresh: tfe.Bool(false),
		TargetAddrs: []string{"random_pet.x"}, ReplaceAddrs: []string{"random_pet.x"},
		Variables: []*tfe.RunVariable{{Key: "x", Value: `"secret-run-value"`}},
		SavePlan:  tfe.Bool(false), AllowEmptyApply: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = c.Runs.Read(ctx, r.ID); err != nil || r.Refresh || r.RefreshOnly || !slices.Equal(r.TargetAddrs, []string{"random_pet.x"}) ||
		!slices.Equal(r.ReplaceAddrs, []string{"random_pet.x"}) || len(r.Variables) != 1 || r.Variables[0].Key != "x" || r.Variables[0].Value != "" {
		t.Fatalf("run = %+v, %v", r, err)
	}
	if r, err = c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, PlanOnly: tfe.Bool(true), RefreshOnly: tfe.Bool(true)}); err != nil || !r.RefreshOnly || !r.Refresh {
		t.Fatalf("refresh-only run = %+v, %v", r, err)
	}
	for name, o := range map[string]tfe.RunCreateOptions{
		"save-plan":         {SavePlan: tfe.Bool(true)},
		"allow-empty-apply": {AllowEmptyApply: tfe.Bool(true)},
		"terraform-version": {TerraformVersion: tfe.String("1.6.3"), PlanOnly: tfe.Bool(true)},
	} {
		o.Workspace = ws
		if _, err := c.Runs.Create(ctx, o); err == nil || !strings.Contains(err.Error(), "does not support the run option "+name) {
			t.Errorf("run with %s: %v, want 422", name, err)
		}
	}
	doc := func(attrs string) string {
		return `{"data":{"type":"runs","attributes":` + attrs + `,"relationships":{"workspace":{"data":{"type":"workspaces","id":"` + ws.ID + `"}}}}}`
	}
	for attrs, want := range map[string]string{
		`{"target-addrs":"random_pet.x"}`:                        "attribute target-addrs must be a list",
		`{"replace-addrs":[1]}`:                                  "attribute replace-addrs must be a list",
		`{"refresh":"no"}`:                                       "attribute refresh must be a boolean",
		`{"refresh-only":1}`:                                     "attribute refresh-only must be a boolean",
		`{"variables":{"key":"x"}}`:                              "attribute variables must be a list",
		`{"variables":[{"key":"x"}]}`:                            "variables[0] must be an object with a key and a value",
		`{"variables":[null]}`:                                   "variables[0] must be an object",
		`{"variables":[{"key":"x","value":"1","hcl":true}]}`:     "attribute variables must be a list",
		`{"variables":[{"key":"x","value":"secret-run-value"}]}`: "variables[0].value",
	} {
		code, body := sendRaw(t, "POST", e.url+"/api/v2/runs", "root-token", doc(attrs))
		if code != 422 || !strings.Contains(body, want) || strings.Contains(body, "secret-run-value") {
			t.Errorf("%s: %d %s; want 422 naming %q", attrs, code, body, want)
		}
	}
	if l, err := c.Runs.List(ctx, ws.ID, nil); err != nil || len(l.Items) != 2 {
		t.Fatalf("runs = %d, %v; want the two accepted", len(l.Items), err)
	}
}

// TestWorkspaceLock: a locked workspace keeps new runs pending until its
// locker unlocks it; another caller cannot unlock it, force-unlock can.
func TestWorkspaceLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("a@acme.test")}); err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net")})
		if err != nil {
			t.Fatal(err)
		}
		cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "terraform_data" "x" {}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir); err != nil {
			t.Fatal(err)
		}

		locked, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{Reason: tfe.String("maintenance")})
		if err != nil || !locked.Locked {
			t.Fatalf("lock = %+v, %v", locked, err)
		}
		if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); !errors.Is(err, tfe.ErrWorkspaceLocked) {
			t.Errorf("second lock: %v, want ErrWorkspaceLocked", err)
		}
		rn, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
		if err != nil || rn.Status != tfe.RunPending {
			t.Fatalf("run on a locked workspace = %v, %v; want pending", statusOf(rn), err)
		}

		// Someone else cannot lift the lock; force-unlock can.
		other := e.client(t, "user-token")
		if _, err := other.Workspaces.Unlock(ctx, ws.ID); err == nil {
			t.Error("a caller without the grant unlocked the workspace")
		}
		if _, err := e.svc.Runs.UnlockWorkspace(access.WithCaller(ctxT(t), access.Caller{Accessor: "acc-other", Policies: []string{"root"}}), ws.ID, false); err == nil ||
			!strings.Contains(err.Error(), "locked by someone else") {
			t.Errorf("unlock by another root caller: %v", err)
		}
		if got, err := c.Runs.Read(ctx, rn.ID); err != nil || got.Status != tfe.RunPending {
			t.Fatalf("run = %v, %v; want still pending", statusOf(got), err)
		}
		unlocked, err := c.Workspaces.ForceUnlock(ctx, ws.ID)
		if err != nil || unlocked.Locked {
			t.Fatalf("force-unlock = %+v, %v", unlocked, err)
		}
		if got, err := c.Runs.Read(ctx, rn.ID); err != nil || got.Status != tfe.RunPlanQueued {
			t.Fatalf("run after unlock = %v, %v; want plan_queued", statusOf(got), err)
		}
		if _, err := c.Workspaces.Unlock(ctx, ws.ID); !errors.Is(err, tfe.ErrWorkspaceNotLocked) && (err == nil || !strings.Contains(err.Error(), "not locked")) {
			t.Errorf("unlock of an unlocked workspace: %v", err)
		}

		// The locker itself unlocks.
		if _, err := c.Workspaces.Lock(ctx, ws.ID, tfe.WorkspaceLockOptions{}); err != nil {
			t.Fatal(err)
		}
		if ws, err := c.Workspaces.Unlock(ctx, ws.ID); err != nil || ws.Locked {
			t.Fatalf("unlock by the locker = %+v, %v", ws, err)
		}
	})
}
