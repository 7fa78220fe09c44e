package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

// bigRego fails a plan that changes a resource of type "big".
const bigRego = `package terraform.policies.size
deny contains msg if {
	some rc in input.plan.resource_changes
	rc.type == "big"
	msg := sprintf("%s is too big", [rc.address])
}
`

// TestOperatorTeamDenials: a team with HCP Terraform's classic operator
// permission on its workspace (runs apply, variables write, state versions
// none, and nothing in the broker) is refused everything beyond it, and
// each refusal leaves the state as it was, read back as root: the broker's
// AppRole secret IDs, KV paths and credentials, policy sets, policies and
// a policy override, the workspace's settings, grants and sharing, the
// organization's managed-variables setting and a locked managed variable.
// What it may do (a variable of its own, a plan, an apply) still works.
func TestOperatorTeamDenials(t *testing.T) { daemontest.Each(t, testOperatorTeamDenials) }

func testOperatorTeamDenials(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := goTFE(t, srv, srv.Token)
	org, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
	must(t, err)
	newWS := func(name string) *tfe.Workspace {
		t.Helper()
		ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String(name)})
		must(t, err)
		return ws
	}
	opWS, managerWS, otherWS := newWS("operator"), newWS("manager"), newWS("other")
	apps, err := root.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "apps"})
	must(t, err)
	pool, err := root.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("private"), OrganizationScoped: tfe.Bool(true)})
	must(t, err)
	team, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("operators")})
	must(t, err)
	grant, err := root.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessCustom), Team: team, Workspace: opWS,
		Runs: tfe.RunsPermission(tfe.RunsPermissionApply), Variables: tfe.VariablesPermission(tfe.VariablesPermissionWrite),
		StateVersions: tfe.StateVersionsPermission(tfe.StateVersionsPermissionNone)})
	must(t, err)
	tt, err := root.TeamTokens.Create(ctx, team.ID)
	must(t, err)
	op := goTFE(t, srv, tt.Token)
	d := &denials{t: t, srv: srv, tok: tt.Token}

	// The broker: the team's token holds nothing there.
	rootV, opV := vaultAs(t, srv, srv.Token), vaultAs(t, srv, tt.Token)
	must(t, rootV.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
	write(t, rootV, "auth/approle/role/operator", map[string]any{"token_policies": []string{"default"}})
	must(t, rootV.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	_, err = rootV.KVv2("secret").Put(ctx, "manager/config", map[string]any{"password": "s3cret"})
	must(t, err)
	sts := stsfake.Start(t, stsfake.Options{})
	must(t, rootV.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write(t, rootV, "aws/config/root", map[string]any{"access_key": sts.AccessKey, "secret_key": sts.SecretKey, "sts_endpoint": sts.URL, "region": "us-east-1"})
	write(t, rootV, "aws/roles/manager", map[string]any{"credential_type": "assumed_role", "role_arns": []string{"arn:aws:iam::123456789012:role/manager"}})
	brokerCalls := map[string]func(c *vault.Client) error{
		"issue an AppRole secret ID": func(c *vault.Client) error {
			_, err := c.Logical().Write("auth/approle/role/operator/secret-id", nil)
			return err
		},
		"read an AppRole's role ID": func(c *vault.Client) error {
			_, err := c.Logical().Read("auth/approle/role/operator/role-id")
			return err
		},
		"read a KV path": func(c *vault.Client) error {
			_, err := c.KVv2("secret").Get(ctx, "manager/config")
			return err
		},
		"get another role's AWS credentials": func(c *vault.Client) error {
			_, err := c.Logical().Read("aws/creds/manager")
			return err
		},
	}
	for name, call := range brokerCalls {
		var re *vault.ResponseError
		if err := call(opV); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("the operator's token: %s: %v, want a 403", name, err)
		}
		// The same call is a well-formed one: root's succeeds.
		if err := call(rootV); err != nil {
			t.Errorf("root: %s: %v", name, err)
		}
	}
	// Each workspace's runs log in to the broker with their workload
	// identity, to a role bound to their workspace.
	must(t, rootV.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	write(t, rootV, "auth/jwt/config", map[string]any{"oidc_discovery_url": srv.D.PublicURL(), "bound_issuer": srv.D.PublicURL()})
	must(t, rootV.Sys().PutPolicy("manager-runs", `path "aws/creds/manager" { capabilities = ["read"] }
path "secret/data/manager/*" { capabilities = ["read"] }`))
	must(t, rootV.Sys().PutPolicy("operator-runs", `path "secret/data/operator/*" { capabilities = ["read"] }`))
	for _, ws := range []string{"manager", "operator"} {
		write(t, rootV, "auth/jwt/role/"+ws, map[string]any{"role_type": "jwt", "user_claim": "terraform_full_workspace",
			"bound_audiences": []string{vaultAud}, "bound_claims_type": "glob",
			"bound_claims":   map[string]any{"sub": "organization:acme:project:Default Project:workspace:" + ws + ":run_phase:*"},
			"token_policies": []string{ws + "-runs"}, "token_ttl": "20m"})
	}
	_, err = rootV.KVv2("secret").Put(ctx, "operator/config", map[string]any{"bucket": "operator-bucket"})
	must(t, err)
	mint := map[string]any{"organization": "acme", "project": "Default Project", "workspace": "manager", "run_id": "run-x", "phase": "apply",
		"audience": "aws.workload.identity"}
	if code := (&node{d: srv.D, token: tt.Token}).call(t, "POST", "/api/runcred/v1/identity/mint", mint, nil); code != http.StatusForbidden {
		t.Errorf("the operator's token minted another workspace's identity token: HTTP %d, want 403", code)
	}

	// A manager run's token writes role_id of the operator's workspace,
	// which makes the manager its manager.
	agentTok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	must(t, err)
	jobs := &jobapi.Client{Server: srv.D.URL(), HTTP: srv.HTTPClient(t)}
	claim := func(runID string) *jobapi.JobClient {
		t.Helper()
		j, err := jobs.Claim(ctx, agentTok, "", 0)
		if err != nil || j == nil || j.RunID != runID {
			t.Fatalf("claim = %+v, %v; want a job of run %s", j, err, runID)
		}
		return jobs.For(j)
	}
	uploadConfig(t, ctx, root, managerWS)
	managerRun, err := root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: managerWS})
	must(t, err)
	grantBody := `{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"workspace-id":"` + opWS.ID +
		`","permission":"manage-workspaces-and-variables"}]}}}`
	if code, body := rawAs(t, srv, srv.Token, "PATCH", "/api/v2/workspaces/"+managerWS.ID+"/runcred-run-token-grants", grantBody); code != http.StatusOK {
		t.Fatalf("granting the manager: HTTP %d %s", code, body)
	}
	mj, err := jobs.Claim(ctx, agentTok, "", 0)
	if err != nil || mj == nil || mj.RunID != managerRun.ID {
		t.Fatalf("claim = %+v, %v; want the manager's plan", mj, err)
	}
	roleID, err := goTFE(t, srv, mj.RunToken.RevealString()).Variables.Create(ctx, opWS.ID, tfe.VariableCreateOptions{Key: tfe.String("role_id"),
		Value: tfe.String("r1"), Category: tfe.Category(tfe.CategoryTerraform)})
	must(t, err)
	must(t, jobs.For(mj).Finish(ctx, jobapi.Finish{Errored: true, Message: "done"}))

	// The organization's managed-variables setting is its owners'.
	setting := `{"data":{"type":"organizations","attributes":{"runcred-managed-variables":"locked"}}}`
	d.raw("change the organization's managed-variables setting", "PATCH", "/api/v2/organizations/acme", setting)
	if code, body := rawAs(t, srv, srv.Token, "GET", "/api/v2/organizations/acme", ""); code != http.StatusOK ||
		!strings.Contains(body, `"runcred-managed-variables":"policy"`) {
		t.Errorf("the setting after the refusal: HTTP %d %s", code, body)
	}
	if code, body := rawAs(t, srv, srv.Token, "PATCH", "/api/v2/organizations/acme", setting); code != http.StatusOK {
		t.Fatalf("root locks managed variables: HTTP %d %s", code, body)
	}

	// A locked managed variable: refused, naming the manager.
	_, err = op.Variables.Update(ctx, opWS.ID, roleID.ID, tfe.VariableUpdateOptions{Value: tfe.String("rogue")})
	if !namesManager(err) {
		t.Errorf("the operator's write of a locked variable: %v, want a refusal naming the manager", err)
	}
	if err := op.Variables.Delete(ctx, opWS.ID, roleID.ID); !namesManager(err) {
		t.Errorf("the operator's delete of a locked variable: %v, want a refusal naming the manager", err)
	}
	if v, err := root.Variables.Read(ctx, opWS.ID, roleID.ID); err != nil || v.Value != "r1" {
		t.Errorf("role_id after the refusals = %+v, %v; want r1", v, err)
	}
	// Its own variables, unmanaged, it writes.
	region, err := op.Variables.Create(ctx, opWS.ID, tfe.VariableCreateOptions{Key: tfe.String("region"), Value: tfe.String("eu-west-1"),
		Category: tfe.Category(tfe.CategoryTerraform)})
	if err != nil {
		t.Fatalf("the operator sets a variable: %v", err)
	}
	if _, err := op.Variables.Update(ctx, opWS.ID, region.ID, tfe.VariableUpdateOptions{Value: tfe.String("eu-central-1")}); err != nil {
		t.Errorf("the operator changes its variable: %v", err)
	}

	// Policies and policy sets are the organization's policy managers'.
	mandatory, advisory := tfe.EnforcementMandatory, tfe.EnforcementAdvisory
	size, err := root.Policies.Create(ctx, "acme", tfe.PolicyCreateOptions{Name: tfe.String("size"), Kind: tfe.OPA,
		Query: tfe.String("data.terraform.policies.size.deny"), EnforcementLevel: &mandatory})
	must(t, err)
	must(t, root.Policies.Upload(ctx, size.ID, []byte(bigRego)))
	limits, err := root.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("limits"), Kind: tfe.OPA,
		Overridable: tfe.Bool(true), Policies: []*tfe.Policy{size}, Workspaces: []*tfe.Workspace{opWS}})
	must(t, err)
	spare, err := root.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("spare"), Kind: tfe.OPA})
	must(t, err)
	_, err = op.PolicySets.Create(ctx, "acme", tfe.PolicySetCreateOptions{Name: tfe.String("mine"), Kind: tfe.OPA, Workspaces: []*tfe.Workspace{opWS}})
	d.tfe("create a policy set", err)
	_, err = op.PolicySets.Update(ctx, limits.ID, tfe.PolicySetUpdateOptions{Name: tfe.String("renamed")})
	d.tfe("rename a policy set", err)
	_, err = op.PolicySets.Update(ctx, limits.ID, tfe.PolicySetUpdateOptions{Overridable: tfe.Bool(false)})
	d.tfe("change a policy set's overridability", err)
	d.tfe("take its workspace out of a policy set", op.PolicySets.RemoveWorkspaces(ctx, limits.ID,
		tfe.PolicySetRemoveWorkspacesOptions{Workspaces: []*tfe.Workspace{opWS}}))
	d.tfe("add its workspace to a policy set", op.PolicySets.AddWorkspaces(ctx, spare.ID,
		tfe.PolicySetAddWorkspacesOptions{Workspaces: []*tfe.Workspace{opWS}}))
	d.tfe("exclude its workspace from a policy set", op.PolicySets.AddWorkspaceExclusions(ctx, limits.ID,
		tfe.PolicySetAddWorkspaceExclusionsOptions{WorkspaceExclusions: []*tfe.Workspace{opWS}}))
	d.tfe("remove a policy from a policy set", op.PolicySets.RemovePolicies(ctx, limits.ID,
		tfe.PolicySetRemovePoliciesOptions{Policies: []*tfe.Policy{size}}))
	_, err = op.PolicySetParameters.Create(ctx, limits.ID, tfe.PolicySetParameterCreateOptions{Key: tfe.String("limit"), Value: tfe.String("1000"),
		Category: tfe.Category(tfe.CategoryPolicySet)})
	d.tfe("set a policy set parameter", err)
	d.tfe("delete a policy set", op.PolicySets.Delete(ctx, limits.ID))
	_, err = op.Policies.Create(ctx, "acme", tfe.PolicyCreateOptions{Name: tfe.String("allow"), Kind: tfe.OPA,
		Query: tfe.String("data.terraform.policies.allow.deny"), EnforcementLevel: &advisory})
	d.tfe("create a policy", err)
	_, err = op.Policies.Update(ctx, size.ID, tfe.PolicyUpdateOptions{EnforcementLevel: &advisory})
	d.tfe("lower a policy's enforcement", err)
	d.tfe("upload a policy", op.Policies.Upload(ctx, size.ID, []byte("package terraform.policies.size\ndeny := set()\n")))
	d.tfe("delete a policy", op.Policies.Delete(ctx, size.ID))
	if sets, err := root.PolicySets.List(ctx, "acme", nil); err != nil || len(sets.Items) != 2 {
		t.Errorf("policy sets after the refusals = %+v, %v", sets, err)
	}
	ps, err := root.PolicySets.ReadWithOptions(ctx, limits.ID, &tfe.PolicySetReadOptions{Include: []tfe.PolicySetIncludeOpt{tfe.PolicySetWorkspaces}})
	if err != nil || ps.Name != "limits" || !*ps.Overridable || len(ps.Workspaces) != 1 || ps.Workspaces[0].ID != opWS.ID ||
		len(ps.Policies) != 1 || len(ps.WorkspaceExclusions) != 0 {
		t.Errorf("policy set after the refusals = %+v, %v", ps, err)
	}
	if ps, err := root.PolicySets.Read(ctx, spare.ID); err != nil || len(ps.Workspaces) != 0 {
		t.Errorf("the spare policy set after the refusals = %+v, %v", ps, err)
	}
	if params, err := root.PolicySetParameters.List(ctx, limits.ID, nil); err != nil || len(params.Items) != 0 {
		t.Errorf("policy set parameters after the refusals = %+v, %v", params, err)
	}
	if pl, err := root.Policies.List(ctx, "acme", nil); err != nil || len(pl.Items) != 1 || pl.Items[0].EnforcementLevel != tfe.EnforcementMandatory {
		t.Errorf("policies after the refusals = %+v, %v", pl, err)
	}
	if src, err := root.Policies.Download(ctx, size.ID); err != nil || string(src) != bigRego {
		t.Errorf("the policy after the refusals = %q, %v", src, err)
	}

	// A plan the operator queues fails the overridable policy: it may not
	// override it, nor apply past it.
	uploadConfig(t, ctx, op, opWS)
	// A run variable would replace the locked variable for that run,
	// unseen by the lock and by the policy, which checks the workspace's.
	_, err = op.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: opWS, Variables: []*tfe.RunVariable{{Key: "role_id", Value: `"rogue"`}}})
	if !namesManager(err) {
		t.Errorf("the operator's run variable replacing a locked variable: %v, want a refusal naming the manager", err)
	}
	if l, err := root.Runs.List(ctx, opWS.ID, nil); err != nil || len(l.Items) != 0 {
		t.Errorf("runs after the refusal = %+v, %v", l, err)
	}
	rn, err := op.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: opWS, Message: tfe.String("operator: deploy")})
	if err != nil {
		t.Fatalf("the operator queues a plan: %v", err)
	}
	plan := claim(rn.ID)
	// Its run's workload identity logs in to its own role only, and that
	// role's token reaches its own KV path and nothing else.
	jwt, err := plan.Mint(ctx, vaultAud)
	must(t, err)
	anon := vaultAs(t, srv, "")
	if _, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "manager", "jwt": jwt.RevealString()}); err == nil {
		t.Error("the operator's run logged in to the manager's role")
	}
	login, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "operator", "jwt": jwt.RevealString()})
	if err != nil || login == nil || login.Auth == nil {
		t.Fatalf("the operator's run logs in to its role: %v", err)
	}
	runV := vaultAs(t, srv, login.Auth.ClientToken)
	for name, call := range brokerCalls {
		var re *vault.ResponseError
		if err := call(runV); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("the operator's run: %s: %v, want a 403", name, err)
		}
	}
	if sec, err := runV.KVv2("secret").Get(ctx, "operator/config"); err != nil || sec.Data["bucket"] != "operator-bucket" {
		t.Errorf("the operator's run reads its own KV path: %+v, %v", sec, err)
	}
	must(t, plan.StorePlanFile(ctx, []byte("saved plan bytes")))
	must(t, plan.StorePlanJSON(ctx, []byte(`{"format_version":"1.2","resource_changes":[{"address":"big.b","type":"big"}]}`)))
	must(t, plan.Finish(ctx, jobapi.Finish{HasChanges: true}))
	storyWait(t, ctx, root, rn.ID, tfe.RunPostPlanAwaitingDecision)
	stages, err := op.TaskStages.List(ctx, rn.ID, nil)
	if err != nil || len(stages.Items) != 1 || stages.Items[0].Status != tfe.TaskStageAwaitingOverride {
		t.Fatalf("the run's task stages as the operator = %+v, %v", stages, err)
	}
	stage := stages.Items[0]
	if stage.Permissions != nil && stage.Permissions.CanOverridePolicy != nil && *stage.Permissions.CanOverridePolicy {
		t.Error("the task stage tells the operator it may override the policy")
	}
	_, err = op.TaskStages.Override(ctx, stage.ID, tfe.TaskStageOverrideOptions{Comment: tfe.String("trust me")})
	d.tfe("override a soft-failed policy", err)
	if err := op.Runs.Apply(ctx, rn.ID, tfe.RunApplyOptions{}); err == nil || !strings.Contains(err.Error(), "cannot be applied") {
		t.Errorf("the operator's apply past a soft-failed policy: %v, want a refusal", err)
	}
	if r, err := root.Runs.Read(ctx, rn.ID); err != nil || r.Status != tfe.RunPostPlanAwaitingDecision {
		t.Errorf("the run after the refusals = %+v, %v", r, err)
	}
	if st, err := root.TaskStages.Read(ctx, stage.ID, nil); err != nil || st.Status != tfe.TaskStageAwaitingOverride {
		t.Errorf("the task stage after the refusals = %+v, %v", st, err)
	}
	// An owner overrides; the operator applies.
	if _, err := root.TaskStages.Override(ctx, stage.ID, tfe.TaskStageOverrideOptions{Comment: tfe.String("approved in CHG-7")}); err != nil {
		t.Fatal(err)
	}
	storyWait(t, ctx, root, rn.ID, tfe.RunPlanned)
	if err := op.Runs.Apply(ctx, rn.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatalf("the operator applies: %v", err)
	}
	apply := claim(rn.ID)
	must(t, apply.StoreState(ctx, []byte(`{"version":4,"terraform_version":"1.9.0","serial":1,"lineage":"6b1e0c1c-1111-2222-3333-444455556666","outputs":{},"resources":[]}`)))
	must(t, apply.Finish(ctx, jobapi.Finish{}))
	storyWait(t, ctx, root, rn.ID, tfe.RunApplied)

	// The workspace's settings are its administrators'.
	for name, o := range map[string]tfe.WorkspaceUpdateOptions{
		"auto-apply":        {AutoApply: tfe.Bool(true)},
		"execution mode":    {ExecutionMode: tfe.String("local")},
		"agent pool":        {ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(pool.ID)},
		"working directory": {WorkingDirectory: tfe.String("elsewhere")},
		"name":              {Name: tfe.String("renamed")},
		"project":           {Project: &tfe.Project{ID: apps.ID}},
	} {
		_, err := op.Workspaces.UpdateByID(ctx, opWS.ID, o)
		d.tfe("change the workspace's "+name, err)
	}
	_, err = op.Workspaces.Update(ctx, "acme", "operator", tfe.WorkspaceUpdateOptions{Name: tfe.String("renamed")})
	d.tfe("rename the workspace by name", err)
	d.tfe("tag the workspace", op.Workspaces.AddTags(ctx, opWS.ID, tfe.WorkspaceAddTagsOptions{Tags: []*tfe.Tag{{Name: "prod"}}}))
	d.tfe("delete the workspace", op.Workspaces.DeleteByID(ctx, opWS.ID))
	d.tfe("delete the workspace by name", op.Workspaces.Delete(ctx, "acme", "operator"))
	d.tfe("safe-delete the workspace", op.Workspaces.SafeDeleteByID(ctx, opWS.ID))
	got, err := root.Workspaces.ReadByID(ctx, opWS.ID)
	if err != nil || got.Name != "operator" || got.AutoApply || got.ExecutionMode != opWS.ExecutionMode || got.AgentPool != nil ||
		got.WorkingDirectory != "" || got.Project == nil || got.Project.ID != org.DefaultProject.ID || len(got.TagNames) != 0 {
		t.Errorf("the workspace after the refusals = %+v, %v", got, err)
	}

	// Locking: not in the operator's permission.
	_, err = op.Workspaces.Lock(ctx, opWS.ID, tfe.WorkspaceLockOptions{Reason: tfe.String("mine")})
	d.tfe("lock the workspace", err)
	if got, err := root.Workspaces.ReadByID(ctx, opWS.ID); err != nil || got.Locked {
		t.Errorf("the workspace after a refused lock = %+v, %v", got, err)
	}
	_, err = root.Workspaces.Lock(ctx, opWS.ID, tfe.WorkspaceLockOptions{Reason: tfe.String("change freeze")})
	must(t, err)
	_, err = op.Workspaces.Unlock(ctx, opWS.ID)
	d.tfe("unlock the workspace", err)
	_, err = op.Workspaces.ForceUnlock(ctx, opWS.ID)
	d.tfe("force-unlock the workspace", err)
	if got, err := root.Workspaces.ReadByID(ctx, opWS.ID); err != nil || !got.Locked {
		t.Errorf("the workspace after refused unlocks = %+v, %v", got, err)
	}
	_, err = root.Workspaces.Unlock(ctx, opWS.ID)
	must(t, err)

	// Sharing its state.
	must(t, root.Workspaces.AddRemoteStateConsumers(ctx, opWS.ID, tfe.WorkspaceAddRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{managerWS}}))
	d.tfe("add a remote state consumer", op.Workspaces.AddRemoteStateConsumers(ctx, opWS.ID,
		tfe.WorkspaceAddRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{otherWS}}))
	d.tfe("replace the remote state consumers", op.Workspaces.UpdateRemoteStateConsumers(ctx, opWS.ID,
		tfe.WorkspaceUpdateRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{otherWS}}))
	d.tfe("remove a remote state consumer", op.Workspaces.RemoveRemoteStateConsumers(ctx, opWS.ID,
		tfe.WorkspaceRemoveRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{managerWS}}))
	_, err = op.Workspaces.UpdateByID(ctx, opWS.ID, tfe.WorkspaceUpdateOptions{GlobalRemoteState: tfe.Bool(true)})
	d.tfe("share the state with the organization", err)
	if l, err := root.Workspaces.ListRemoteStateConsumers(ctx, opWS.ID, nil); err != nil || len(l.Items) != 1 || l.Items[0].ID != managerWS.ID {
		t.Errorf("remote state consumers after the refusals = %+v, %v", l, err)
	}
	if got, err := root.Workspaces.ReadByID(ctx, opWS.ID); err != nil || got.GlobalRemoteState {
		t.Errorf("global remote state after the refusal = %+v, %v", got, err)
	}

	// Run-token grants, its own workspace's and another's.
	appsGrant := `{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"project-id":"` + apps.ID +
		`","permission":"manage-workspaces-and-variables"}]}}}`
	d.raw("grant its runs' tokens a project", "PATCH", "/api/v2/workspaces/"+opWS.ID+"/runcred-run-token-grants", appsGrant)
	d.raw("change the manager's run-token grants", "PATCH", "/api/v2/workspaces/"+managerWS.ID+"/runcred-run-token-grants",
		`{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[]}}}`)
	if code, body := rawAs(t, srv, srv.Token, "GET", "/api/v2/workspaces/"+opWS.ID+"/runcred-run-token-grants", ""); code != http.StatusOK ||
		strings.Contains(body, apps.ID) {
		t.Errorf("the operator workspace's grants after the refusal: HTTP %d %s", code, body)
	}
	if code, body := rawAs(t, srv, srv.Token, "GET", "/api/v2/workspaces/"+managerWS.ID+"/runcred-run-token-grants", ""); code != http.StatusOK ||
		!strings.Contains(body, opWS.ID) {
		t.Errorf("the manager's grants after the refusal: HTTP %d %s", code, body)
	}

	// Run triggers, into its workspace and out of it.
	trig, err := root.RunTriggers.Create(ctx, opWS.ID, tfe.RunTriggerCreateOptions{Sourceable: managerWS})
	must(t, err)
	_, err = op.RunTriggers.Create(ctx, opWS.ID, tfe.RunTriggerCreateOptions{Sourceable: otherWS})
	d.tfe("create a run trigger into its workspace", err)
	_, err = op.RunTriggers.Create(ctx, otherWS.ID, tfe.RunTriggerCreateOptions{Sourceable: opWS})
	d.tfe("create a run trigger out of its workspace", err)
	d.tfe("delete a run trigger", op.RunTriggers.Delete(ctx, trig.ID))
	if l, err := root.RunTriggers.List(ctx, opWS.ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerInbound}); err != nil ||
		len(l.Items) != 1 || l.Items[0].ID != trig.ID {
		t.Errorf("inbound run triggers after the refusals = %+v, %v", l, err)
	}
	if l, err := root.RunTriggers.List(ctx, opWS.ID, &tfe.RunTriggerListOptions{RunTriggerType: tfe.RunTriggerOutbound}); err != nil || len(l.Items) != 0 {
		t.Errorf("outbound run triggers after the refusals = %+v, %v", l, err)
	}

	// Team access: neither its own grant nor another team's.
	others, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("others")})
	must(t, err)
	_, err = op.TeamAccess.Update(ctx, grant.ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessAdmin)})
	d.tfe("raise its own grant to admin", err)
	_, err = op.TeamAccess.Update(ctx, grant.ID, tfe.TeamAccessUpdateOptions{Access: tfe.Access(tfe.AccessCustom), WorkspaceLocking: tfe.Bool(true)})
	d.tfe("give itself locking", err)
	_, err = op.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: others, Workspace: opWS})
	d.tfe("grant another team access", err)
	d.tfe("remove its own grant", op.TeamAccess.Remove(ctx, grant.ID))
	_, err = op.TeamProjectAccess.Add(ctx, tfe.TeamProjectAccessAddOptions{Access: tfe.TeamProjectAccessAdmin, Team: team, Project: apps})
	d.tfe("grant itself a project", err)
	_, err = op.Teams.Update(ctx, team.ID, tfe.TeamUpdateOptions{OrganizationAccess: &tfe.OrganizationAccessOptions{ManagePolicies: tfe.Bool(true)}})
	d.tfe("give its team organization access", err)
	if l, err := root.TeamAccess.List(ctx, &tfe.TeamAccessListOptions{WorkspaceID: opWS.ID}); err != nil || len(l.Items) != 1 ||
		l.Items[0].ID != grant.ID || l.Items[0].Access != tfe.AccessCustom || l.Items[0].Runs != tfe.RunsPermissionApply ||
		l.Items[0].Variables != tfe.VariablesPermissionWrite || l.Items[0].StateVersions != tfe.StateVersionsPermissionNone || l.Items[0].WorkspaceLocking {
		t.Errorf("team access after the refusals = %+v, %v", l, err)
	}
	if l, err := root.TeamProjectAccess.List(ctx, tfe.TeamProjectAccessListOptions{ProjectID: apps.ID}); err != nil || len(l.Items) != 0 {
		t.Errorf("project access after the refusal = %+v, %v", l, err)
	}
	if tm, err := root.Teams.Read(ctx, team.ID); err != nil || tm.OrganizationAccess == nil || tm.OrganizationAccess.ManagePolicies {
		t.Errorf("the team after the refusal = %+v, %v", tm, err)
	}

	// Nothing beyond its workspace: no new workspace, no token of its
	// team, no variable set of its own or of the organization's.
	_, err = op.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("mine")})
	d.tfe("create a workspace", err)
	_, err = op.TeamTokens.Create(ctx, team.ID)
	d.tfe("create a token of its team", err)
	shared, err := root.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("shared"), Global: tfe.Bool(false)})
	must(t, err)
	_, err = op.VariableSets.Create(ctx, "acme", &tfe.VariableSetCreateOptions{Name: tfe.String("mine"), Global: tfe.Bool(true)})
	d.tfe("create a variable set", err)
	d.tfe("apply a variable set to its workspace", op.VariableSets.ApplyToWorkspaces(ctx, shared.ID,
		&tfe.VariableSetApplyToWorkspacesOptions{Workspaces: []*tfe.Workspace{opWS}}))
	if l, err := root.Workspaces.List(ctx, "acme", nil); err != nil || len(l.Items) != 3 {
		t.Errorf("workspaces after the refusal = %+v, %v", l, err)
	}
	if tok, err := root.TeamTokens.Read(ctx, team.ID); err != nil || tok.ID != tt.ID {
		t.Errorf("the team's token after the refusal = %+v, %v; want %s", tok, err, tt.ID)
	}
	if l, err := root.VariableSets.List(ctx, "acme", nil); err != nil || len(l.Items) != 1 {
		t.Errorf("variable sets after the refusal = %+v, %v", l, err)
	}
	if vs, err := root.VariableSets.Read(ctx, shared.ID, &tfe.VariableSetReadOptions{Include: &[]tfe.VariableSetIncludeOpt{tfe.VariableSetWorkspaces}}); err != nil ||
		len(vs.Workspaces) != 0 {
		t.Errorf("the variable set after the refusal = %+v, %v", vs, err)
	}

	// The refused raw requests are well-formed: root's succeed.
	if code, body := rawAs(t, srv, srv.Token, "PATCH", "/api/v2/workspaces/"+opWS.ID+"/runcred-run-token-grants", appsGrant); code != http.StatusOK {
		t.Errorf("root grants the operator workspace's runs a project: HTTP %d %s", code, body)
	}
}

// namesManager reports whether err refuses a change of a variable that
// workspace manager manages, naming it.
func namesManager(err error) bool {
	return err != nil && strings.Contains(strings.ReplaceAll(err.Error(), `\"`, `"`), `managed by workspace "manager"`)
}

// TestRunVariableComesUnderManager: a run variable queued while its
// Terraform variable had no manager is refused when the phase reads its
// inputs, once a manager's run has written the variable.
func TestRunVariableComesUnderManager(t *testing.T) {
	daemontest.Each(t, testRunVariableComesUnderManager)
}

func testRunVariableComesUnderManager(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := goTFE(t, srv, srv.Token)
	_, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
	must(t, err)
	app, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	must(t, err)
	manager, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("manager")})
	must(t, err)
	dbName, err := root.Variables.Create(ctx, app.ID, tfe.VariableCreateOptions{Key: tfe.String("db_name"), Value: tfe.String("prod"),
		Category: tfe.Category(tfe.CategoryTerraform)})
	must(t, err)
	grantBody := `{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"workspace-id":"` + app.ID +
		`","permission":"manage-workspaces-and-variables"}]}}}`
	if code, body := rawAs(t, srv, srv.Token, "PATCH", "/api/v2/workspaces/"+manager.ID+"/runcred-run-token-grants", grantBody); code != http.StatusOK {
		t.Fatalf("granting the manager: HTTP %d %s", code, body)
	}
	uploadConfig(t, ctx, root, app)
	uploadConfig(t, ctx, root, manager)
	appRun, err := root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: app, Variables: []*tfe.RunVariable{{Key: "db_name", Value: `"mine"`}}})
	must(t, err)
	managerRun, err := root.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: manager})
	must(t, err)
	agentTok, err := srv.D.DefaultAgentToken(ctx, time.Hour)
	must(t, err)
	jobs := &jobapi.Client{Server: srv.D.URL(), HTTP: srv.HTTPClient(t)}
	claimed := map[string]*jobapi.Job{}
	for range 2 {
		j, err := jobs.Claim(ctx, agentTok, "", 0)
		if err != nil || j == nil {
			t.Fatalf("claim = %+v, %v", j, err)
		}
		claimed[j.RunID] = j
	}
	appJob, managerJob := claimed[appRun.ID], claimed[managerRun.ID]
	if appJob == nil || managerJob == nil {
		t.Fatalf("claimed %v, want the runs of app and manager", claimed)
	}
	in, err := jobs.For(appJob).Inputs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range in.Variables {
		got[v.Key] = v.Value
	}
	if got["db_name"] != `"mine"` {
		t.Fatalf("db_name before it is managed = %q, want the run's", got["db_name"])
	}
	if _, err := goTFE(t, srv, managerJob.RunToken.RevealString()).Variables.Update(ctx, app.ID, dbName.ID,
		tfe.VariableUpdateOptions{Value: tfe.String("prod2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.For(appJob).Inputs(ctx); !namesManager(err) {
		t.Errorf("inputs of a run whose variable came under a manager: %v, want a refusal naming the manager", err)
	}
}

// denials checks the operator's refusals.
type denials struct {
	t   *testing.T
	srv *daemontest.Server
	tok string // the operator team's
}

// tfe checks that a go-tfe call was refused: a 404 for what the team
// cannot see, a 403 for what it can see but not do.
func (d *denials) tfe(what string, err error) {
	d.t.Helper()
	switch {
	case err == nil:
		d.t.Errorf("the operator could %s", what)
	case errors.Is(err, tfe.ErrResourceNotFound), strings.Contains(err.Error(), "forbidden"), strings.Contains(err.Error(), "manage-policy-overrides"):
	default:
		d.t.Errorf("the operator's attempt to %s: %v, want a refusal", what, err)
	}
}

// raw sends a request as the operator and checks it was refused with a
// 404 or a 403.
func (d *denials) raw(what, method, path, body string) {
	d.t.Helper()
	if code, b := rawAs(d.t, d.srv, d.tok, method, path, body); code != http.StatusNotFound && code != http.StatusForbidden {
		d.t.Errorf("the operator's attempt to %s: HTTP %d %s, want a 404 or 403", what, code, b)
	}
}

// rawAs sends one JSON:API request to srv as tok.
func rawAs(t *testing.T, srv *daemontest.Server, tok, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.D.URL()+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := srv.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// uploadConfig uploads a one-resource configuration to ws as c.
func uploadConfig(t *testing.T, ctx context.Context, c *tfe.Client, ws *tfe.Workspace) {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "terraform_data" "x" {}`+"\n"), 0o600))
	cv, err := c.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatalf("configuration version of %s: %v", ws.Name, err)
	}
	must(t, c.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir))
}
