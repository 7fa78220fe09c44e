package api_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

const sizeRego = `package terraform.policies.size
deny contains msg if {
	some rc in input.plan.resource_changes
	rc.type == "big"
	msg := sprintf("%s is too big (limit %v)", [rc.address, data.params.limit])
}
`

// TestGoTFEPolicies: go-tfe manages OPA policies, policy sets, their
// parameters and uploaded versions, refuses Sentinel, and drives a run's
// post_plan stage: task stages, the policy evaluation, policy set outcomes
// and the override.
func TestGoTFEPolicies(t *testing.T) {
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
		other, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("other")})
		if err != nil {
			t.Fatal(err)
		}

		// Policies.
		if _, err := c.Policies.Create(ctx, "acme", tfe.PolicyCreateOptions{Name: tfe.String("s"), Kind: tfe.Sentinel,
			EnforcementLevel: level(tfe.EnforcementSoft)}); err == nil || !strings.Contains(err.Error(), "Sentinel") {
			t.Fatalf("sentinel policy: %v", err)
		}
		if _, err := c.Policies.Create(ctx, "acme", tfe.PolicyCreateOptions{Name: tfe.String("noquery"), Kind: tfe.OPA,
			EnforcementLevel: level(tfe.EnforcementMandatory)}); err == nil || !strings.Contains(err.Error(), "query") {
			t.Fatalf("policy without a query: %v", err)
		}
		p, err := c.Policies.Create(ctx, "acme", tfe.PolicyCreateOptions{Name: tfe.String("size"), Kind: tfe.OPA,
			Query: tfe.String("data.terraform.policies.size.deny"), EnforcementLevel: level(tfe.EnforcementMandatory)})
		if err != nil || p.Kind != tfe.OPA || p.EnforcementLevel != tfe.EnforcementMandatory || *p.Query != "data.terraform.policies.size.deny" {
			t.Fatalf("create policy = %+v, %v", p, err)
		}
		if err := c.Policies.Upload(ctx, p.ID, []byte(sizeRego)); err != nil {
			t.Fatal(err)
		}
		if src, err := c.Policies.Download(ctx, p.ID); err != nil || string(src) != sizeRego {
			t.Fatalf("download = %q, %v", src, err)
		}
		// The deprecated form terraform-provider-tfe still sends on update.
		if up, err := c.Policies.Update(ctx, p.ID, tfe.PolicyUpdateOptions{Enforce: []*tfe.EnforcementOptions{
			{Path: tfe.String("size.rego"), Mode: level(tfe.EnforcementAdvisory)}}}); err != nil || up.EnforcementLevel != tfe.EnforcementAdvisory {
			t.Fatalf("update by enforce = %+v, %v", up, err)
		}
		if _, err := c.Policies.Update(ctx, p.ID, tfe.PolicyUpdateOptions{EnforcementLevel: level(tfe.EnforcementMandatory)}); err != nil {
			t.Fatal(err)
		}
		if pl, err := c.Policies.List(ctx, "acme", nil); err != nil || len(pl.Items) != 1 || pl.Items[0].ID != p.ID {
			t.Fatalf("list policies = %+v, %v", pl, err)
		}

		// A policy set: sentinel refused; an OPA set with the policy and a parameter.
		if _, err := c.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("s"), Kind: tfe.Sentinel}); err == nil ||
			!strings.Contains(err.Error(), "Sentinel") {
			t.Fatalf("sentinel set: %v", err)
		}
		ps, err := c.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("limits"), Kind: tfe.OPA,
			Overridable: tfe.Bool(true), Policies: []*tfe.Policy{p}, Workspaces: []*tfe.Workspace{other}})
		if err != nil || ps.Kind != tfe.OPA || !*ps.Overridable || len(ps.Policies) != 1 || len(ps.Workspaces) != 1 {
			t.Fatalf("create set = %+v, %v", ps, err)
		}
		if err := c.PolicySets.AddWorkspaces(ctx, ps.ID, tfe.PolicySetAddWorkspacesOptions{Workspaces: []*tfe.Workspace{ws}}); err != nil {
			t.Fatal(err)
		}
		if err := c.PolicySets.RemoveWorkspaces(ctx, ps.ID, tfe.PolicySetRemoveWorkspacesOptions{Workspaces: []*tfe.Workspace{other}}); err != nil {
			t.Fatal(err)
		}
		if ps, err = c.PolicySets.Read(ctx, ps.ID); err != nil || len(ps.Workspaces) != 1 || ps.Workspaces[0].ID != ws.ID {
			t.Fatalf("read set = %+v, %v", ps, err)
		}
		if ws.Project == nil {
			t.Fatal("workspace without a project")
		}
		prj := &tfe.Project{ID: ws.Project.ID}
		if err := c.PolicySets.AddProjectExclusions(ctx, ps.ID, tfe.PolicySetAddProjectExclusionsOptions{ProjectExclusions: []*tfe.Project{prj}}); err != nil {
			t.Fatal(err)
		}
		if ps, err = c.PolicySets.Read(ctx, ps.ID); err != nil || len(ps.ProjectExclusions) != 1 {
			t.Fatalf("set with a project exclusion = %+v, %v", ps, err)
		}
		if err := c.PolicySets.RemoveProjectExclusions(ctx, ps.ID, tfe.PolicySetRemoveProjectExclusionsOptions{ProjectExclusions: []*tfe.Project{prj}}); err != nil {
			t.Fatal(err)
		}
		if err := c.PolicySets.AddProjects(ctx, ps.ID, tfe.PolicySetAddProjectsOptions{Projects: []*tfe.Project{{ID: "prj-NotThere1"}}}); err == nil {
			t.Fatal("a project of no organization was added")
		}
		param, err := c.PolicySetParameters.Create(ctx, ps.ID, tfe.PolicySetParameterCreateOptions{Key: tfe.String("limit"),
			Value: tfe.String("3"), Category: tfe.Category(tfe.CategoryPolicySet), Sensitive: tfe.Bool(true)})
		if err != nil || param.Value != "" || !param.Sensitive {
			t.Fatalf("create parameter = %+v, %v", param, err)
		}
		if pl, err := c.PolicySetParameters.List(ctx, ps.ID, nil); err != nil || len(pl.Items) != 1 || pl.Items[0].Value != "" {
			t.Fatalf("list parameters = %+v, %v", pl, err)
		}

		// An uploaded version: a broken set errors, naming why; a good one is ready.
		broken := writeDir(t, map[string]string{"policies.hcl": `policy "x" {`})
		v, err := c.PolicySetVersions.Create(ctx, ps.ID)
		if err != nil || v.Status != tfe.PolicySetVersionPending {
			t.Fatalf("create version = %+v, %v", v, err)
		}
		if err := c.PolicySetVersions.Upload(ctx, *v, broken); err == nil {
			t.Fatal("a broken set was accepted")
		}
		if v, err = c.PolicySetVersions.Read(ctx, v.ID); err != nil || v.Status != tfe.PolicySetVersionErrored || v.Error == "" {
			t.Fatalf("broken version = %+v, %v", v, err)
		}
		good := writeDir(t, map[string]string{
			"policies.hcl":        "policy \"names\" {\n  query = \"data.terraform.policies.names.deny\"\n  enforcement_level = \"advisory\"\n}\n",
			"policies/names.rego": "package terraform.policies.names\ndeny contains \"advice\" if { false }\n",
		})
		if v, err = c.PolicySetVersions.Create(ctx, ps.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.PolicySetVersions.Upload(ctx, *v, good); err != nil {
			t.Fatal(err)
		}
		if v, err = c.PolicySetVersions.Read(ctx, v.ID); err != nil || v.Status != tfe.PolicySetVersionReady {
			t.Fatalf("good version = %+v, %v", v, err)
		}

		// A run: the mandatory policy fails, the run waits for a decision.
		ag := agent{t, e.svc}
		rn := queueRun(t, c, ws)
		id := ag.claim(jobapi.Plan, rn.ID)
		if err := e.svc.Runs.StorePlanJSON(rootCtx(), id, []byte(`{"format_version":"1.2","resource_changes":[{"address":"big.b","type":"big"}]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Runs.FinishPhase(rootCtx(), id, run.PhaseReport{HasChanges: true}); err != nil {
			t.Fatal(err)
		}
		rn = readRun(t, c, rn.ID, tfe.RunStatus("post_plan_awaiting_decision"))
		stages, err := c.TaskStages.List(ctx, rn.ID, nil)
		if err != nil || len(stages.Items) != 1 {
			t.Fatalf("task stages = %+v, %v", stages, err)
		}
		st := stages.Items[0]
		if st.Stage != tfe.PostPlan || st.Status != tfe.TaskStageAwaitingOverride || !*st.Actions.IsOverridable || !*st.Permissions.CanOverridePolicy ||
			len(st.PolicyEvaluations) != 1 {
			t.Fatalf("task stage = %+v", st)
		}
		evals, err := c.PolicyEvaluations.List(ctx, st.ID, nil)
		if err != nil || len(evals.Items) != 1 || evals.Items[0].Status != tfe.PolicyEvaluationFailed ||
			evals.Items[0].ResultCount.MandatoryFailed != 1 || evals.Items[0].ResultCount.Passed != 1 {
			t.Fatalf("evaluations = %+v, %v", evals, err)
		}
		outs, err := c.PolicySetOutcomes.List(ctx, evals.Items[0].ID, nil)
		if err != nil || len(outs.Items) != 1 || outs.Items[0].PolicySetName != "limits" || !*outs.Items[0].Overridable {
			t.Fatalf("outcomes = %+v, %v", outs, err)
		}
		var msg string
		for _, o := range outs.Items[0].Outcomes {
			if o.PolicyName == "size" && o.Status == "failed" && len(o.Output) == 1 && o.Query == "data.terraform.policies.size.deny" {
				msg = o.Output[0].Print
			}
		}
		if msg != "big.b is too big (limit 3)" {
			t.Fatalf("outcomes = %+v", outs.Items[0].Outcomes)
		}
		failed, err := c.PolicySetOutcomes.List(ctx, evals.Items[0].ID, &tfe.PolicySetOutcomeListOptions{
			Filter: map[string]tfe.PolicySetOutcomeListFilter{"0": {Status: "failed"}}})
		if err != nil || len(failed.Items) != 1 || len(failed.Items[0].Outcomes) != 1 {
			t.Fatalf("failed outcomes = %+v, %v", failed, err)
		}
		if one, err := c.PolicySetOutcomes.Read(ctx, outs.Items[0].ID); err != nil || one.PolicySetName != "limits" {
			t.Fatalf("read outcome = %+v, %v", one, err)
		}

		// The override: a justification is required; then the run goes on.
		if _, err := c.TaskStages.Override(ctx, st.ID, tfe.TaskStageOverrideOptions{}); err == nil || !strings.Contains(err.Error(), "justification") {
			t.Fatalf("override without a comment: %v", err)
		}
		st, err = c.TaskStages.Override(ctx, st.ID, tfe.TaskStageOverrideOptions{Comment: tfe.String("approved in CHG-7")})
		if err != nil || st.Status != "overridden" {
			t.Fatalf("override = %+v, %v", st, err)
		}
		readRun(t, c, rn.ID, tfe.RunPlanned)
		if err := c.Runs.Apply(ctx, rn.ID, tfe.RunApplyOptions{}); err != nil {
			t.Fatal(err)
		}
		readRun(t, c, rn.ID, tfe.RunApplyQueued)

		// Parameters and sets go away.
		if err := c.PolicySetParameters.Delete(ctx, ps.ID, param.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.PolicySets.Delete(ctx, ps.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.Policies.Delete(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PolicySets.Read(ctx, ps.ID); err == nil {
			t.Fatal("deleted set still read")
		}
	})
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// queueRun uploads a configuration to ws and queues a run of it.
func queueRun(t *testing.T, c *tfe.Client, ws *tfe.Workspace) *tfe.Run {
	t.Helper()
	ctx := ctxT(t)
	cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigurationVersions.Upload(ctx, cv.UploadURL, writeDir(t, map[string]string{"main.tf": "# empty\n"})); err != nil {
		t.Fatal(err)
	}
	rn, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cv})
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

func level(l tfe.EnforcementLevel) *tfe.EnforcementLevel { return &l }
