package api_test

import (
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFEWorkspaceAttributes: a workspace carries HCP Terraform's
// attributes; those runcred has one way are accepted at that value and read
// back, refused at another naming the attribute with nothing stored;
// permissions and actions are present (terraform-provider-tfe dereferences
// them); execution modes agent, remote and local mean what they say.
func TestGoTFEWorkspaceAttributes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		pool, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("p")})
		if err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{
			Name: tfe.String("net"), AllowDestroyPlan: tfe.Bool(true), AutoApplyRunTrigger: tfe.Bool(false),
			FileTriggersEnabled: tfe.Bool(true), QueueAllRuns: tfe.Bool(true), SpeculativeEnabled: tfe.Bool(true),
			StructuredRunOutputEnabled: tfe.Bool(true), GlobalRemoteState: tfe.Bool(false), AssessmentsEnabled: tfe.Bool(false),
			ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(pool.ID), Description: tfe.String("d"),
			TagBindings: []*tfe.TagBinding{{Key: "tier", Value: "net"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Workspaces.ReadByIDWithOptions(ctx, ws.ID, &tfe.WorkspaceReadOptions{Include: []tfe.WSIncludeOpt{tfe.WSEffectiveTagBindings}})
		if err != nil {
			t.Fatal(err)
		}
		if !r.AllowDestroyPlan || r.AutoApplyRunTrigger || !r.FileTriggersEnabled || !r.QueueAllRuns || !r.SpeculativeEnabled ||
			!r.StructuredRunOutputEnabled || r.GlobalRemoteState || r.AssessmentsEnabled || !r.Operations || r.ExecutionMode != "agent" ||
			r.AgentPool == nil || r.AgentPool.ID != pool.ID || r.Description != "d" || r.ResourceCount != 0 {
			t.Fatalf("read back = %+v", r)
		}
		if r.Permissions == nil || !r.Permissions.CanUpdate || !r.Permissions.CanDestroy || !r.Permissions.CanQueueRun ||
			r.Permissions.CanForceDelete == nil || *r.Permissions.CanForceDelete || r.Actions == nil || !r.Actions.IsDestroyable {
			t.Fatalf("permissions %+v, actions %+v", r.Permissions, r.Actions)
		}
		if len(r.EffectiveTagBindings) != 1 || r.EffectiveTagBindings[0].Key != "tier" || r.EffectiveTagBindings[0].Value != "net" {
			t.Fatalf("effective tag bindings = %v", r.EffectiveTagBindings)
		}

		for name, opts := range map[string]tfe.WorkspaceUpdateOptions{
			"allow-destroy-plan":            {AllowDestroyPlan: tfe.Bool(false)},
			"queue-all-runs":                {QueueAllRuns: tfe.Bool(false)},
			"speculative-enabled":           {SpeculativeEnabled: tfe.Bool(false)},
			"file-triggers-enabled":         {FileTriggersEnabled: tfe.Bool(false)},
			"structured-run-output-enabled": {StructuredRunOutputEnabled: tfe.Bool(false)},
			"trigger-prefixes":              {TriggerPrefixes: []string{"modules/"}},
			"vcs-repo":                      {VCSRepo: &tfe.VCSRepoOptions{Identifier: tfe.String("o/r"), OAuthTokenID: tfe.String("ot-1")}},
		} {
			opts.Description = tfe.String("changed")
			if _, err := c.Workspaces.UpdateByID(ctx, ws.ID, opts); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("update with %s: %v, want a refusal naming it", name, err)
			}
		}
		if r, _ := c.Workspaces.ReadByID(ctx, ws.ID); r.Description != "d" {
			t.Errorf("a refused update stored the description %q", r.Description)
		}

		// remote: the default pool's; the workspace's pool is detached.
		r, err = c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("remote")})
		if err != nil || r.ExecutionMode != "remote" || r.AgentPool != nil || !r.Operations {
			t.Fatalf("to remote: %+v, %v", r, err)
		}
		if _, err := c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("local"), AgentPoolID: tfe.String(pool.ID)}); err == nil {
			t.Error("a pool was accepted with execution mode local")
		}
		// local: runcred keeps the state and runs nothing.
		r, err = c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("local")})
		if err != nil || r.ExecutionMode != "local" || r.Operations {
			t.Fatalf("to local: %+v, %v", r, err)
		}
		if _, err := c.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: r}); err == nil || !strings.Contains(err.Error(), "local") {
			t.Errorf("a run on a local workspace: %v", err)
		}
		r, err = c.Workspaces.UpdateByID(ctx, ws.ID, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(pool.ID)})
		if err != nil || r.ExecutionMode != "agent" || r.AgentPool == nil {
			t.Fatalf("back to agent: %+v, %v", r, err)
		}

		// Remote state sharing: consumers are other workspaces of the
		// organization, listed, added and removed.
		consumers, err := c.Workspaces.ListRemoteStateConsumers(ctx, ws.ID, nil)
		if err != nil || len(consumers.Items) != 0 {
			t.Fatalf("remote state consumers = %v, %v", consumers, err)
		}
		other, _ := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
		if err := c.Workspaces.AddRemoteStateConsumers(ctx, ws.ID, tfe.WorkspaceAddRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{other}}); err != nil {
			t.Fatal(err)
		}
		if consumers, err = c.Workspaces.ListRemoteStateConsumers(ctx, ws.ID, nil); err != nil || len(consumers.Items) != 1 || consumers.Items[0].ID != other.ID {
			t.Fatalf("remote state consumers after adding = %v, %v", consumers, err)
		}
		err = c.Workspaces.AddRemoteStateConsumers(ctx, ws.ID, tfe.WorkspaceAddRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{ws}})
		if err == nil || !strings.Contains(err.Error(), "another workspace") {
			t.Errorf("a workspace its own consumer: %v", err)
		}
		if err := c.Workspaces.RemoveRemoteStateConsumers(ctx, ws.ID, tfe.WorkspaceRemoveRemoteStateConsumersOptions{Workspaces: []*tfe.Workspace{other}}); err != nil {
			t.Fatal(err)
		}
		if consumers, err = c.Workspaces.ListRemoteStateConsumers(ctx, ws.ID, nil); err != nil || len(consumers.Items) != 0 {
			t.Fatalf("remote state consumers after removing = %v, %v", consumers, err)
		}
		if r, err := c.Workspaces.UpdateByID(ctx, other.ID, tfe.WorkspaceUpdateOptions{GlobalRemoteState: tfe.Bool(true)}); err != nil || !r.GlobalRemoteState {
			t.Fatalf("global-remote-state = %+v, %v", r, err)
		}

		// Safe delete: a workspace that manages nothing goes.
		if err := c.Workspaces.SafeDeleteByID(ctx, ws.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Workspaces.ReadByID(ctx, ws.ID); err != tfe.ErrResourceNotFound {
			t.Errorf("after safe delete: %v", err)
		}
		// Tag names are taken when a workspace is created (as key-only
		// bindings), not on update, where tag-bindings replace the set.
		code, body := sendRaw(t, "PATCH", e.url+"/api/v2/organizations/acme/workspaces/app", "root-token",
			`{"data":{"type":"workspaces","attributes":{},"relationships":{"tags":{"data":[{"type":"tags","attributes":{"name":"x"}}]}}}}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "tag-bindings") {
			t.Errorf("tag names on update: %d %s", code, body)
		}
	})
}
