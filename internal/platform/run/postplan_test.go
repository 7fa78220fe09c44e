package run_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/policyset"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// sizeRego fails a plan that adds a resource of type "big".
const sizeRego = `package terraform.policies.size
deny contains msg if {
	some rc in input.plan.resource_changes
	rc.type == "big"
	msg := sprintf("%s is too big", [rc.address])
}
`

const bigPlan = `{"format_version":"1.2","resource_changes":[{"address":"big.one","type":"big","change":{"actions":["create"]}}]}`
const smallPlan = `{"format_version":"1.2","resource_changes":[{"address":"small.one","type":"small","change":{"actions":["create"]}}]}`

// policySet makes a global set in acme holding one policy of level with
// source rego.
func policySet(t *testing.T, f *pt.Operator, name, level, rego string, overridable bool) policyset.Set {
	t.Helper()
	ctx := pt.As(pt.Root)
	q := "data.terraform.policies.size.deny"
	p, err := f.Svc.PolicySets.CreatePolicy(ctx, "acme", policyset.PolicyOptions{Name: new(name), Query: &q, Level: &level})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Svc.PolicySets.UploadPolicy(ctx, p.ID, []byte(rego)); err != nil {
		t.Fatal(err)
	}
	set, err := f.Svc.PolicySets.Create(ctx, "acme", policyset.SetOptions{Name: new(name + "-set"), Global: new(true),
		Overridable: &overridable, PolicyIDs: []string{p.ID}})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// planRun queues a run on the target workspace and plays its agent,
// storing plan, and returns the run after the plan report.
func planRun(t *testing.T, f *pt.Operator, plan string) run.Run {
	t.Helper()
	ctx := pt.As(pt.Root)
	uploaded(t, f, f.Target, false)
	rn, err := f.Svc.Runs.Create(ctx, f.Target.ID, run.Options{})
	if err != nil {
		t.Fatal(err)
	}
	job := claim(t, f, jobapi.Plan, rn.ID)
	if err := f.Svc.Runs.StorePlanJSON(ctx, job.PhaseID, []byte(plan)); err != nil {
		t.Fatal(err)
	}
	r, err := f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{HasChanges: true, Counts: run.ResourceCounts{Additions: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func stage(t *testing.T, f *pt.Operator, runID string) run.Check {
	t.Helper()
	cs, err := f.Svc.Runs.Checks(pt.As(pt.Root), runID)
	if err != nil || len(cs) != 1 {
		t.Fatalf("checks of %s = %+v, %v", runID, cs, err)
	}
	return cs[0]
}

func planLog(t *testing.T, f *pt.Operator, r run.Run) string {
	t.Helper()
	pv, err := f.Svc.Runs.PlanOrApply(pt.As(pt.Root), r.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Svc.Runs.ReadSigned(context.Background(), pv.LogToken)
	if err != nil || !c.Done {
		t.Fatalf("log: %v, done %v", err, c.Done)
	}
	return string(c.Data)
}

// TestPostPlanOverride: an overridable mandatory failure waits for a
// decision; an override needs the grant (denied without) and a
// justification (invalid without), is audited, and lets the run apply; a
// new plan of the workspace is checked again from scratch.
func TestPostPlanOverride(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		policySet(t, f, "size", "mandatory", sizeRego, true)

		r := planRun(t, f, bigPlan)
		if r.Status != run.PostPlanAwaitingDecision || r.Timestamps[run.PostPlanRunning].IsZero() {
			t.Fatalf("run after plan = %s %v", r.Status, r.Timestamps)
		}
		c := stage(t, f, r.ID)
		if c.Status != run.StageAwaitingOverride || c.PlanHash == "" || len(c.Outcome.Sets) != 1 ||
			c.Outcome.Sets[0].Policies[0].Violations[0] != "big.one is too big" {
			t.Fatalf("check = %+v", c)
		}
		if log := planLog(t, f, r); !strings.Contains(log, "big.one is too big") || !strings.Contains(log, "waits for an override") {
			t.Fatalf("plan log:\n%s", log)
		}
		if _, err := f.Svc.Runs.Apply(pt.As(pt.Root), r.ID); !fail.Is(err, fail.Conflict) {
			t.Fatalf("apply awaiting decision: %v", err)
		}

		// A user who may not read the run does not learn of its check.
		if _, _, err := f.Svc.Runs.Override(pt.As(pt.User), c.ID, "needed"); !fail.Is(err, fail.NotFound) {
			t.Fatalf("override by a stranger: %v", err)
		}
		// A user who may read and run but not override.
		runPath := resource.WorkspacePath("acme", "operator") + "/runs/" + r.ID
		f.Grants.Grant(runPath, "read")
		f.Grants.Grant(runPath+"/actions/apply", "update")
		if _, _, err := f.Svc.Runs.Override(pt.As(pt.User), c.ID, "needed"); !fail.Is(err, fail.Denied) {
			t.Fatalf("override without the grant: %v", err)
		}
		f.Grants.Grant(runPath+"/actions/override", "update")
		if _, _, err := f.Svc.Runs.Override(pt.As(pt.User), c.ID, "  "); !fail.Is(err, fail.Invalid) {
			t.Fatalf("override without a justification: %v", err)
		}
		if got := stage(t, f, r.ID); got.Status != run.StageAwaitingOverride {
			t.Fatalf("refused overrides changed the check: %s", got.Status)
		}
		oc, or, err := f.Svc.Runs.Override(pt.As(pt.User), c.ID, "the big one is approved by change CHG-42")
		if err != nil || or.Status != run.Planned || oc.Status != run.StageOverridden || oc.OverrideHash != c.PlanHash {
			t.Fatalf("override = %+v, %s, %v", oc, or.Status, err)
		}
		if _, _, err := f.Svc.Runs.Override(pt.As(pt.Root), c.ID, "again"); !fail.Is(err, fail.Conflict) {
			t.Fatalf("second override: %v", err)
		}
		if rec := lastAudit(t, db, "platform.policy.override"); !strings.Contains(rec, "CHG-42") || !strings.Contains(rec, c.PlanHash) ||
			!strings.Contains(rec, "big.one is too big") || !strings.Contains(rec, "acc-alice") {
			t.Fatalf("override audit record: %s", rec)
		}
		if ar, err := f.Svc.Runs.Apply(pt.As(pt.User), r.ID); err != nil || ar.Status != run.ApplyQueued {
			t.Fatalf("apply after override = %s, %v", ar.Status, err)
		}

		// Re-planning: the next run's check starts over.
		claim(t, f, jobapi.Apply, r.ID)
		if _, err := f.Svc.Runs.ForceCancel(pt.As(pt.Root), r.ID); err != nil {
			t.Fatal(err)
		}
		r2 := planRun(t, f, bigPlan)
		if r2.Status != run.PostPlanAwaitingDecision || stage(t, f, r2.ID).Status != run.StageAwaitingOverride {
			t.Fatalf("re-plan = %s: the override carried over", r2.Status)
		}
		if d, err := f.Svc.Runs.Discard(pt.As(pt.Root), r2.ID); err != nil || d.Status != run.Discarded || stage(t, f, r2.ID).Status != run.StageCanceled {
			t.Fatalf("discard awaiting decision = %s, %v", d.Status, err)
		}
		if r3 := planRun(t, f, smallPlan); r3.Status != run.Planned || stage(t, f, r3.ID).Status != run.StagePassed {
			t.Fatalf("passing plan = %s", r3.Status)
		}
	})
}

// TestPostPlanUnoverridable: hard-mandatory failures, mandatory failures of
// a set that is not overridable, and every way a policy can break end the
// run errored, and nobody overrides them, root included.
func TestPostPlanUnoverridable(t *testing.T) {
	cases := []struct {
		name, level, rego string
		overridable       bool
		want              string
	}{
		{"hard", "hard-mandatory", sizeRego, true, "big.one is too big"},
		{"fixed", "mandatory", sizeRego, false, "big.one is too big"},
		{"broken", "advisory", "package terraform.policies.size\ndeny contains msg if {", true, "errored"},
		{"network", "advisory", `package terraform.policies.size
deny contains r.body if { r := http.send({"method": "GET", "url": "http://127.0.0.1:1/"}) }
`, true, "errored"},
		{"not-array", "mandatory", "package terraform.policies.size\ndeny := \"no\"\n", true, "errored"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				set := policySet(t, f, tc.name, tc.level, tc.rego, tc.overridable)
				defer func() {
					if err := f.Svc.PolicySets.Delete(pt.As(pt.Root), set.ID); err != nil {
						t.Fatal(err)
					}
				}()
				r := planRun(t, f, bigPlan)
				c := stage(t, f, r.ID)
				if r.Status != run.Errored || (c.Status != run.StageFailed && c.Status != run.StageErrored) ||
					!strings.Contains(r.ErrorMessage+planLog(t, f, r), tc.want) {
					t.Fatalf("run = %s (%q), stage %s", r.Status, r.ErrorMessage, c.Status)
				}
				if _, _, err := f.Svc.Runs.Override(pt.As(pt.Root), c.ID, "root insists"); !fail.Is(err, fail.Conflict) {
					t.Fatalf("root override of %s: %v", tc.name, err)
				}
				if got, _ := f.Svc.Runs.Run(pt.As(pt.Root), r.ID); got.Status != run.Errored {
					t.Fatalf("run after root's override = %s", got.Status)
				}
			})
		}
	})
}

func lastAudit(t *testing.T, db *store.DB, typ string) string {
	t.Helper()
	var body string
	err := db.QueryRow(context.Background(), `SELECT body FROM audit_log WHERE type = ? ORDER BY seq DESC LIMIT 1`, typ).Scan(&body)
	if err != nil {
		t.Fatalf("audit record %s: %v", typ, err)
	}
	return body
}

// TestOverrideBoundToPlan: an override covers the plan its check
// evaluated; if the stored plan is not that plan any more, the apply is
// refused.
func TestOverrideBoundToPlan(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		policySet(t, f, "size", "mandatory", sizeRego, true)
		r := planRun(t, f, bigPlan)
		c := stage(t, f, r.ID)
		if _, or, err := f.Svc.Runs.Override(pt.As(pt.Root), c.ID, "approved"); err != nil || or.Status != run.Planned {
			t.Fatalf("override = %s, %v", or.Status, err)
		}
		// The stored plan changes under the override (as only a write to
		// the database could do).
		sealed, err := f.Config.Seal.Encrypt([]byte(smallPlan), "platform/runs/"+r.ID+"/plan_json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(context.Background(), `UPDATE runs SET plan_json = ? WHERE id = ?`, sealed, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Runs.Apply(pt.As(pt.Root), r.ID); !fail.Is(err, fail.Conflict) || !strings.Contains(err.Error(), "override covered") {
			t.Fatalf("apply of another plan than the override's: %v", err)
		}
		wantStatus(t, f, r.ID, run.Planned)
	})
}

// TestAbandonStaleChecks: a check the server stopped in the middle of
// errs its run once StaleCheckAfter has passed, and not before.
func TestAbandonStaleChecks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		policySet(t, f, "size", "mandatory", sizeRego, true)
		r := planRun(t, f, smallPlan)
		// As a node that stopped while it evaluated leaves it.
		if _, err := db.Exec(context.Background(), `UPDATE runs SET status = ? WHERE id = ?`, string(run.PostPlanRunning), r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(context.Background(), `UPDATE run_policy_checks SET status = ? WHERE run_id = ?`, run.StageRunning, r.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := f.Svc.Runs.AbandonStaleChecks(context.Background()); err != nil || n != 0 {
			t.Fatalf("abandoned a fresh check: %d, %v", n, err)
		}
		f.Clock.Add(run.StaleCheckAfter + time.Second)
		if n, err := f.Svc.Runs.AbandonStaleChecks(context.Background()); err != nil || n != 1 {
			t.Fatalf("abandon = %d, %v", n, err)
		}
		got := wantStatus(t, f, r.ID, run.Errored)
		if !strings.Contains(got.ErrorMessage, "did not finish") || stage(t, f, r.ID).Status != run.StageErrored {
			t.Fatalf("abandoned run: %q, stage %s", got.ErrorMessage, stage(t, f, r.ID).Status)
		}
	})
}

// TestPostPlanCredentialSettingsTheApplyRefuses: a phase's credentials are
// part of what policies judge; settings the agent would refuse for the
// apply (an AWS role for the plan only) fail the check closed, naming the
// variable, rather than letting policies judge a guess.
func TestPostPlanCredentialSettingsTheApplyRefuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		set := policySet(t, f, "creds", "advisory", sizeRego, true)
		defer func() {
			if err := f.Svc.PolicySets.Delete(pt.As(pt.Root), set.ID); err != nil {
				t.Fatal(err)
			}
		}()
		for k, v := range map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/plan"} {
			if _, err := f.Svc.Variables.CreateVariable(pt.As(pt.Root), f.Target.ID,
				variable.Options{Key: new(k), Value: new(v), Category: new(variable.CategoryEnv)}); err != nil {
				t.Fatal(err)
			}
		}
		r := planRun(t, f, smallPlan)
		c := stage(t, f, r.ID)
		if r.Status != run.Errored || c.Status != run.StageErrored && c.Status != run.StageFailed {
			t.Fatalf("run = %s (%q), stage %s; want errored", r.Status, r.ErrorMessage, c.Status)
		}
		if msg := r.ErrorMessage + planLog(t, f, r); !strings.Contains(msg, "apply phase") || !strings.Contains(msg, "TFC_AWS") {
			t.Fatalf("the failure does not name the phase and the variable: %q", msg)
		}
		if _, _, err := f.Svc.Runs.Override(pt.As(pt.Root), c.ID, "root insists"); !fail.Is(err, fail.Conflict) {
			t.Fatalf("root override: %v", err)
		}
	})
}
