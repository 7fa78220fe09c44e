package jobserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// tfeAs is a go-tfe client presenting tok.
func (e *env) tfeAs(t *testing.T, tok secret.Value) *tfe.Client {
	t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: e.srv.D.URL(), Token: tok.RevealString(), RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grant sets workspace wsID's run-token grants (JSON array) as tok.
func (e *env) grant(t *testing.T, tok, wsID, grants string) (int, string) {
	t.Helper()
	body := `{"data":{"type":"runcred-run-token-grants","attributes":{"grants":` + grants + `}}}`
	return e.raw(t, tok, "PATCH", "/api/v2/workspaces/"+wsID+"/runcred-run-token-grants", []byte(body))
}

// varDoc is a workspace variable as the API shows it, with its provenance.
type varDoc struct {
	ID         string `json:"id"`
	Attributes struct {
		Key          string  `json:"key"`
		Value        string  `json:"value"`
		Kind         string  `json:"written-by-kind"`
		WriterID     string  `json:"written-by-id"`
		WriterWS     *string `json:"written-by-workspace-id"`
		ManagingWSID *string `json:"managing-workspace-id"`
	} `json:"attributes"`
}

// vars reads workspace wsID's variables as root.
func (e *env) vars(t *testing.T, wsID string) map[string]varDoc {
	t.Helper()
	code, body := e.raw(t, e.srv.Token, "GET", "/api/v2/workspaces/"+wsID+"/vars", nil)
	if code != http.StatusOK {
		t.Fatalf("vars: HTTP %d %s", code, body)
	}
	var doc struct{ Data []varDoc }
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]varDoc{}
	for _, v := range doc.Data {
		out[v.Attributes.Key] = v
	}
	return out
}

// TestRunTokenReach drives run tokens through the real broker ACL and the
// API: a manager run's token manages the workspaces and variables of its
// granted project and nothing else, its writes are the run's, it cannot
// act as the agent, another run's token cannot act on the manager's
// workspace or its grants, and it dies with its phase.
func TestRunTokenReach(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		apps, err := e.tfe.Projects.Create(ctx, org, tfe.ProjectCreateOptions{Name: "apps"})
		if err != nil {
			t.Fatal(err)
		}
		app1, err := e.tfe.Workspaces.Create(ctx, org, tfe.WorkspaceCreateOptions{Name: tfe.String("app1"), Project: apps})
		if err != nil {
			t.Fatal(err)
		}
		other, err := e.tfe.Workspaces.Create(ctx, org, tfe.WorkspaceCreateOptions{Name: tfe.String("other")})
		if err != nil {
			t.Fatal(err)
		}
		r := e.queue(t, "manager")

		// Grants are the organization owner's: a team token is refused.
		tm, err := e.tfe.Teams.Create(ctx, org, tfe.TeamCreateOptions{Name: tfe.String("ops")})
		if err != nil {
			t.Fatal(err)
		}
		tt, err := e.tfe.TeamTokens.Create(ctx, tm.ID)
		if err != nil {
			t.Fatal(err)
		}
		projectGrant := `[{"project-id":"` + apps.ID + `","permission":"manage-workspaces-and-variables"}]`
		if code, body := e.grant(t, tt.Token, r.Workspace.ID, projectGrant); code != http.StatusNotFound {
			t.Fatalf("a team grants: HTTP %d %s, want 404", code, body)
		}
		if code, body := e.grant(t, e.srv.Token, r.Workspace.ID, `[{"project-id":"`+apps.ID+`"}]`); code != http.StatusUnprocessableEntity || !strings.Contains(body, "permission") {
			t.Fatalf("a grant without permission: HTTP %d %s, want 422 naming it", code, body)
		}
		if code, body := e.grant(t, e.srv.Token, r.Workspace.ID, projectGrant); code != http.StatusOK || !strings.Contains(body, apps.ID) {
			t.Fatalf("granting: HTTP %d %s", code, body)
		}

		j, ph := e.claim(t)
		if j.RunToken.Empty() {
			t.Fatal("the claim carries no run token")
		}
		rt := e.tfeAs(t, j.RunToken)

		// Its own workspace, readable; not the workspace's runs.
		if _, err := rt.Workspaces.ReadByID(ctx, r.Workspace.ID); err != nil {
			t.Errorf("own workspace: %v", err)
		}
		if _, err := rt.Runs.Read(ctx, r.ID); err == nil {
			t.Error("the run token reads runs")
		}
		// Manage the granted project: a new workspace in it and its variables.
		app2, err := rt.Workspaces.Create(ctx, org, tfe.WorkspaceCreateOptions{Name: tfe.String("app2"), Project: apps})
		if err != nil {
			t.Fatalf("create a workspace in the granted project: %v", err)
		}
		const pw = "run-token-canary-9Qx2"
		if _, err := rt.Variables.Create(ctx, app2.ID, tfe.VariableCreateOptions{Key: tfe.String("db_password"), Value: tfe.String(pw),
			Category: tfe.Category(tfe.CategoryTerraform), Sensitive: tfe.Bool(true)}); err != nil {
			t.Fatalf("variable in the new workspace: %v", err)
		}
		if _, err := rt.Variables.Create(ctx, app1.ID, tfe.VariableCreateOptions{Key: tfe.String("region"), Value: tfe.String("eu-west-1"),
			Category: tfe.Category(tfe.CategoryEnv)}); err != nil {
			t.Fatalf("variable in a granted workspace: %v", err)
		}
		v := e.vars(t, app2.ID)["db_password"]
		if v.Attributes.Kind != "run" || v.Attributes.WriterID != r.ID || v.Attributes.WriterWS == nil || *v.Attributes.WriterWS != r.Workspace.ID ||
			v.Attributes.ManagingWSID == nil || *v.Attributes.ManagingWSID != r.Workspace.ID {
			t.Errorf("provenance = %+v, want run %s of workspace %s, managed by it", v.Attributes, r.ID, r.Workspace.ID)
		}
		// Sensitive values are write-only, for the manager too.
		list, err := rt.Variables.List(ctx, app2.ID, nil)
		if err != nil || len(list.Items) != 1 || list.Items[0].Value != "" {
			t.Errorf("the manager reads back %+v, %v; want the sensitive value hidden", list, err)
		}
		// It makes its own workspace the source of a managed workspace's
		// run trigger, and only that.
		trig, err := rt.RunTriggers.Create(ctx, app1.ID, tfe.RunTriggerCreateOptions{Sourceable: r.Workspace})
		if err != nil {
			t.Fatalf("a run trigger into a granted workspace: %v", err)
		}
		if _, err := rt.RunTriggers.Read(ctx, trig.ID); err != nil {
			t.Errorf("reading back its run trigger: %v", err)
		}
		if _, err := rt.RunTriggers.Create(ctx, app2.ID, tfe.RunTriggerCreateOptions{Sourceable: other}); err == nil {
			t.Error("a run trigger whose source is a workspace it cannot read")
		}
		if _, err := rt.RunTriggers.Create(ctx, other.ID, tfe.RunTriggerCreateOptions{Sourceable: r.Workspace}); err == nil {
			t.Error("a run trigger into an ungranted workspace")
		}
		// Nothing outside the grant.
		if _, err := rt.Workspaces.Create(ctx, org, tfe.WorkspaceCreateOptions{Name: tfe.String("stray")}); err == nil {
			t.Error("created a workspace outside the granted project")
		}
		if _, err := rt.Workspaces.ReadByID(ctx, other.ID); err == nil {
			t.Error("read an ungranted workspace")
		}
		if _, err := rt.Variables.Create(ctx, other.ID, tfe.VariableCreateOptions{Key: tfe.String("x"), Value: tfe.String("y"),
			Category: tfe.Category(tfe.CategoryTerraform)}); err == nil {
			t.Error("wrote a variable of an ungranted workspace")
		}
		if _, err := rt.Workspaces.UpdateByID(ctx, other.ID, tfe.WorkspaceUpdateOptions{Description: tfe.String("x")}); err == nil {
			t.Error("updated an ungranted workspace")
		}
		if code, body := e.grant(t, j.RunToken.RevealString(), r.Workspace.ID, `[]`); code != http.StatusNotFound {
			t.Errorf("the run token changes its own grants: HTTP %d %s", code, body)
		}
		// Not the agent: every job operation on its own phase is refused.
		refusedAll(t, e.as(j.RunToken, j.PhaseID), http.StatusForbidden)
		// Nor the broker's secrets or tokens.
		if _, err := e.vault(t, j.RunToken.RevealString()).Sys().ListMounts(); err == nil {
			t.Error("the run token lists the broker's mounts")
		}

		// Another run's token: no grant, so none of the manager's reach,
		// and not the manager's phase.
		rb := e.queue(t, "plain")
		jb, phb := e.claim(t)
		if jb.RunID != rb.ID {
			t.Fatalf("claimed %s, want %s", jb.RunID, rb.ID)
		}
		bt := e.tfeAs(t, jb.RunToken)
		if _, err := bt.Variables.Create(ctx, app1.ID, tfe.VariableCreateOptions{Key: tfe.String("y"), Value: tfe.String("z"),
			Category: tfe.Category(tfe.CategoryTerraform)}); err == nil {
			t.Error("another run's token wrote a granted workspace's variable")
		}
		if _, err := bt.Workspaces.ReadByID(ctx, r.Workspace.ID); err == nil {
			t.Error("another run's token read the manager workspace")
		}
		if err := bt.RunTriggers.Delete(ctx, trig.ID); err == nil {
			t.Error("another run's token deleted the manager's run trigger")
		}
		if _, err := bt.RunTriggers.Create(ctx, app1.ID, tfe.RunTriggerCreateOptions{Sourceable: rb.Workspace}); err == nil {
			t.Error("another run's token added a run trigger to a granted workspace")
		}
		refusedAll(t, e.as(jb.RunToken, j.PhaseID), http.StatusForbidden)
		// Once the manager shares its state with it, its outputs (and
		// nothing more) are the other run's to read, at once.
		if err := e.tfe.Workspaces.AddRemoteStateConsumers(ctx, r.Workspace.ID, tfe.WorkspaceAddRemoteStateConsumersOptions{
			Workspaces: []*tfe.Workspace{rb.Workspace}}); err != nil {
			t.Fatal(err)
		}
		if _, err := bt.Workspaces.ReadByID(ctx, r.Workspace.ID); err != nil {
			t.Errorf("a consumer's run token reads the shared workspace: %v", err)
		}
		if code, body := e.raw(t, jb.RunToken.RevealString(), "GET", "/api/v2/workspaces/"+r.Workspace.ID+"/vars", nil); code != http.StatusNotFound {
			t.Errorf("a consumer's run token lists the shared workspace's variables: HTTP %d %s", code, body)
		}
		if err := phb.Finish(ctx, jobapi.Finish{Errored: true, Message: "done"}); err != nil {
			t.Fatal(err)
		}

		// The phase ends: the token is gone, and so is its policy.
		pols, err := e.vault(t, e.srv.Token).Sys().ListPolicies()
		if err != nil {
			t.Fatal(err)
		}
		var runPols int
		for _, p := range pols {
			if strings.HasPrefix(p, "runcred-run-") {
				runPols++
			}
		}
		if runPols != 1 {
			t.Errorf("run token policies while one phase runs: %v", pols)
		}
		if err := ph.Finish(ctx, jobapi.Finish{Errored: true, Message: "done"}); err != nil {
			t.Fatal(err)
		}
		if code, body := e.raw(t, j.RunToken.RevealString(), "GET", "/api/v2/workspaces/"+r.Workspace.ID, nil); code != http.StatusUnauthorized {
			t.Errorf("the run token after its phase: HTTP %d %s, want 401", code, body)
		}
		if pols, err = e.vault(t, e.srv.Token).Sys().ListPolicies(); err != nil {
			t.Fatal(err)
		}
		for _, p := range pols {
			if strings.HasPrefix(p, "runcred-run-") {
				t.Errorf("policy %s outlived its phase", p)
			}
		}
	})
}

// TestManagedVariablesLock: the organization's runcred-managed-variables
// setting through the API, which only its owners change, and a locked
// managed variable refused to a team with a message naming its manager.
func TestManagedVariablesLock(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		e := envOn(t, start(t, nil))
		ctx := ctxT(t)
		target, err := e.tfe.Workspaces.Create(ctx, org, tfe.WorkspaceCreateOptions{Name: tfe.String("operator")})
		if err != nil {
			t.Fatal(err)
		}
		r := e.queue(t, "manager")
		grant := `[{"workspace-id":"` + target.ID + `","permission":"manage-workspaces-and-variables"}]`
		if code, body := e.grant(t, e.srv.Token, r.Workspace.ID, grant); code != http.StatusOK {
			t.Fatalf("granting: HTTP %d %s", code, body)
		}
		j, ph := e.claim(t)
		v, err := e.tfeAs(t, j.RunToken).Variables.Create(ctx, target.ID, tfe.VariableCreateOptions{Key: tfe.String("role_id"),
			Value: tfe.String("r1"), Category: tfe.Category(tfe.CategoryTerraform)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ph.Finish(ctx, jobapi.Finish{Errored: true, Message: "done"}); err != nil {
			t.Fatal(err)
		}
		tm, err := e.tfe.Teams.Create(ctx, org, tfe.TeamCreateOptions{Name: tfe.String("ops")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.tfe.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite),
			Team: tm, Workspace: target}); err != nil {
			t.Fatal(err)
		}
		tt, err := e.tfe.TeamTokens.Create(ctx, tm.ID)
		if err != nil {
			t.Fatal(err)
		}
		setting := func(tok, value string) (int, string) {
			return e.raw(t, tok, "PATCH", "/api/v2/organizations/"+org,
				[]byte(`{"data":{"type":"organizations","attributes":{"runcred-managed-variables":"`+value+`"}}}`))
		}
		team := e.tfeAs(t, secret.FromString(tt.Token))
		// policy (the default): the team may write it.
		if code, body := e.raw(t, e.srv.Token, "GET", "/api/v2/organizations/"+org, nil); code != http.StatusOK || !strings.Contains(body, `"runcred-managed-variables":"policy"`) {
			t.Fatalf("organization: HTTP %d %s", code, body)
		}
		if _, err := team.Variables.Update(ctx, target.ID, v.ID, tfe.VariableUpdateOptions{Value: tfe.String("r2")}); err != nil {
			t.Fatalf("team write under policy: %v", err)
		}
		if code, _ := setting(tt.Token, "locked"); code == http.StatusOK {
			t.Fatal("a team changed the organization's setting")
		}
		if code, body := setting(e.srv.Token, "bogus"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "runcred-managed-variables") {
			t.Fatalf("bogus setting: HTTP %d %s", code, body)
		}
		if code, body := setting(e.srv.Token, "locked"); code != http.StatusOK || !strings.Contains(body, `"runcred-managed-variables":"locked"`) {
			t.Fatalf("locking: HTTP %d %s", code, body)
		}
		_, err = team.Variables.Update(ctx, target.ID, v.ID, tfe.VariableUpdateOptions{Value: tfe.String("r3")})
		if err == nil || !strings.Contains(err.Error(), `managed by workspace \"manager\"`) && !strings.Contains(err.Error(), `managed by workspace "manager"`) {
			t.Errorf("team write under lock: %v, want a refusal naming the manager", err)
		}
		if err := team.Variables.Delete(ctx, target.ID, v.ID); err == nil {
			t.Error("team deleted a locked variable")
		}
		if got := e.vars(t, target.ID)["role_id"]; got.Attributes.Value != "r2" {
			t.Errorf("role_id = %q after the refusals, want r2", got.Attributes.Value)
		}
	})
}
