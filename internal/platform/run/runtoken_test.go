package run_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/organization"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// runTokenPolicy is the policy the run token of j holds, which must exist.
func runTokenPolicy(t *testing.T, f *pt.Operator, j *run.ClaimedJob) (name, body string) {
	t.Helper()
	c := f.Tokens.Issued(t, j.RunToken)
	if len(c.Policies) != 1 {
		t.Fatalf("run token policies = %v, want one", c.Policies)
	}
	body, ok := f.Tokens.Policy(c.Policies[0])
	if !ok {
		t.Fatalf("run token policy %s does not exist", c.Policies[0])
	}
	return c.Policies[0], body
}

// TestRunToken: a claimed phase gets a run token apart from its job token,
// naming its run and workspace but no phase, whose policy is compiled from
// its workspace's grants and follows them while the phase runs; both go
// when the phase ends, and a revocation that failed is tried again.
func TestRunToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewOperator(t, db)
		ctx := pt.As(pt.Root)
		uploaded(t, f, f.Mgr, false)
		rn, err := f.Svc.Runs.Create(ctx, f.Mgr.ID, run.Options{})
		if err != nil {
			t.Fatal(err)
		}
		job := claim(t, f, jobapi.Plan, rn.ID)
		if job.RunToken.Empty() || job.RunToken.RevealString() == job.Token.RevealString() {
			t.Fatal("no run token apart from the job token")
		}
		c := f.Tokens.Issued(t, job.RunToken)
		if c.Meta[resource.MetaRunID] != rn.ID || c.Meta[resource.MetaWorkspaceID] != f.Mgr.ID || c.Meta[run.MetaPhaseID] != "" {
			t.Fatalf("run token meta = %v", c.Meta)
		}
		if slices.Contains(c.Policies, run.JobPolicy) {
			t.Fatalf("the run token holds the job policy: %v", c.Policies)
		}
		name, body := runTokenPolicy(t, f, job)
		own := resource.WorkspacePath("acme", "manager")
		for _, want := range []string{own + `" { capabilities = ["read"]`, own + `/state-versions" { capabilities = ["read", "list"]`,
			own + `/state-outputs" { capabilities = ["read"]`, `workspaces/+/agent" { capabilities = ["deny"]`} {
			if !strings.Contains(body, want) {
				t.Errorf("policy lacks %s:\n%s", want, body)
			}
		}
		if strings.Contains(body, "operator") || strings.Contains(body, "/vars") {
			t.Errorf("an ungranted workspace's policy reaches others:\n%s", body)
		}

		// A grant made while the phase runs reaches its token at once, as
		// does a workspace created in a granted project.
		prj, err := f.Svc.Organizations.CreateProject(ctx, "acme", organizationProject("apps"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Svc.Workspaces.SetRunTokenGrants(ctx, f.Mgr.ID, []workspace.Grant{
			{ProjectID: prj.ID, Permission: workspace.PermissionManage},
			{WorkspaceID: f.Target.ID, Permission: workspace.PermissionManage},
		}); err != nil {
			t.Fatal(err)
		}
		_, body = runTokenPolicy(t, f, job)
		for _, want := range []string{resource.VarsPath("acme", "operator") + `/*" { capabilities = ["create", "read", "update", "delete", "list"]`,
			resource.ProjectPath("acme", "apps") + `" { capabilities = ["read", "update"]`, `workspaces/+" { capabilities = ["create"]`} {
			if !strings.Contains(body, want) {
				t.Errorf("policy after the grant lacks %s:\n%s", want, body)
			}
		}
		name2 := "app1"
		if _, err := f.Svc.Workspaces.Create(ctx, "acme", workspace.Options{Name: &name2, ProjectID: &prj.ID}); err != nil {
			t.Fatal(err)
		}
		if _, body = runTokenPolicy(t, f, job); !strings.Contains(body, resource.VarsPath("acme", "app1")+"/*") {
			t.Errorf("a workspace new in the granted project is missing:\n%s", body)
		}

		// Only who may change grants may (team members may not), and
		// grants are checked.
		teamCtx := pt.As(pt.TeamOps)
		f.Grants.Grant(resource.WorkspacePath("acme", "manager"), "read", "update")
		if _, err := f.Svc.Workspaces.SetRunTokenGrants(teamCtx, f.Mgr.ID, nil); !fail.Is(err, fail.Denied) {
			t.Errorf("a team sets grants: %v, want denied", err)
		}
		for _, bad := range [][]workspace.Grant{
			{{Permission: workspace.PermissionManage}},
			{{ProjectID: prj.ID, WorkspaceID: f.Target.ID, Permission: workspace.PermissionManage}},
			{{ProjectID: prj.ID, Permission: "admin"}},
			{{WorkspaceID: "ws-Nope1", Permission: workspace.PermissionManage}},
		} {
			if _, err := f.Svc.Workspaces.SetRunTokenGrants(ctx, f.Mgr.ID, bad); !fail.Is(err, fail.Invalid) {
				t.Errorf("grants %+v: %v, want invalid", bad, err)
			}
		}

		// The plan ends: both tokens and the policy go.
		if _, err := f.Svc.Runs.FinishPhase(ctx, job.PhaseID, run.PhaseReport{HasChanges: true}); err != nil {
			t.Fatal(err)
		}
		if f.Tokens.Live(job.Token) || f.Tokens.Live(job.RunToken) {
			t.Error("a token outlived its phase")
		}
		if _, ok := f.Tokens.Policy(name); ok {
			t.Error("the run token's policy outlived its phase")
		}

		// The apply's run token cannot be revoked at first: its policy
		// goes, so it may do nothing, and the next end of the run revokes it.
		if _, err := f.Svc.Runs.Apply(ctx, rn.ID); err != nil {
			t.Fatal(err)
		}
		aj := claim(t, f, jobapi.Apply, rn.ID)
		aname, _ := runTokenPolicy(t, f, aj)
		if aname == name {
			t.Fatalf("the apply's run token policy is the plan's: %s", name)
		}
		acc := f.Tokens.Issued(t, aj.RunToken).Accessor
		f.Tokens.FailRevoke(acc, true)
		if _, err := f.Svc.Runs.FinishPhase(ctx, aj.PhaseID, run.PhaseReport{}); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.Tokens.Policy(aname); ok {
			t.Error("the unrevoked run token kept its policy")
		}
		if !f.Tokens.Live(aj.RunToken) {
			t.Fatal("the failing revocation revoked")
		}
		f.Tokens.FailRevoke(acc, false)
		if _, err := f.Svc.Runs.RevokeEndedPhaseTokens(ctx); err != nil {
			t.Fatal(err)
		}
		if f.Tokens.Live(aj.RunToken) {
			t.Error("the retry left the run token live")
		}
		if n, err := f.Svc.Runs.RevokeEndedPhaseTokens(ctx); err != nil || n != 0 {
			t.Errorf("second retry looked at %d runs, %v; want none left", n, err)
		}
	})
}

func organizationProject(name string) organization.ProjectOptions {
	return organization.ProjectOptions{Name: name}
}
