package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestDiscoveryPingEntitlements: service discovery names /api/v2 for the
// tfe.v2 services and nothing runcred does not serve; ping carries what
// go-tfe reads when a client is made; the entitlement set says what runcred
// has and refuses a caller that may not see the organization.
func TestDiscoveryPingEntitlements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		resp, err := testClient.Get(e.url + "/.well-known/terraform.json")
		if err != nil {
			t.Fatal(err)
		}
		var services map[string]string
		err = json.NewDecoder(resp.Body).Decode(&services)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("discovery: %d %v", resp.StatusCode, err)
		}
		for _, id := range []string{"tfe.v2", "tfe.v2.1", "tfe.v2.2"} {
			if services[id] != "/api/v2/" {
				t.Errorf("%s = %q, want /api/v2/", id, services[id])
			}
		}
		for _, id := range []string{"state.v2", "motd.v1", "modules.v1", "login.v1", "providers.v1"} {
			if _, ok := services[id]; ok {
				t.Errorf("discovery advertises %s, which runcred does not serve", id)
			}
		}

		resp, err = testClient.Get(e.url + "/api/v2/ping")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("TFP-API-Version") != wantAPIVersion || resp.Header.Get("TFP-AppName") == "" {
			t.Fatalf("ping: %d %v", resp.StatusCode, resp.Header)
		}
		// No rate limit is enforced, so none is announced: go-tfe then does
		// not throttle itself.
		if v := resp.Header.Get("X-RateLimit-Limit"); v != "" {
			t.Errorf("X-RateLimit-Limit = %q, but runcred enforces none", v)
		}

		c := e.client(t, "root-token")
		ctx := ctxT(t)
		if c.IsCloud() {
			t.Error("go-tfe takes runcred for HCP Terraform itself")
		}
		mustOrg(t, ctx, c, "acme")
		org, _ := c.Organizations.Read(ctx, "acme")
		ent, err := c.Organizations.ReadEntitlements(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		want := tfe.Entitlements{ID: org.ExternalID, Agents: true, Operations: true, StateStorage: true, Teams: true}
		if *ent != want {
			t.Errorf("entitlements = %+v, want %+v", *ent, want)
		}
		if _, err := e.client(t, "user-token").Organizations.ReadEntitlements(ctx, "acme"); err != tfe.ErrResourceNotFound {
			t.Errorf("entitlements for a caller without read: %v, want not found", err)
		}
		if _, err := c.Organizations.ReadEntitlements(ctx, "nothere"); err != tfe.ErrResourceNotFound {
			t.Errorf("entitlements of a missing organization: %v, want not found", err)
		}
	})
}

// TestGoTFEOrganizationUpdate: the email is stored and read back; settings
// runcred has one way are returned at that value and refused at another,
// naming the attribute, with nothing stored; the name cannot change.
func TestGoTFEOrganizationUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		org, err := c.Organizations.Update(ctx, "acme", tfe.OrganizationUpdateOptions{
			Email: tfe.String("new@acme.test"), CollaboratorAuthPolicy: tfe.AuthPolicy(tfe.AuthPolicyPassword),
			AllowForceDeleteWorkspaces: tfe.Bool(false), SpeculativePlanManagementEnabled: tfe.Bool(true),
			UserTokensEnabled: tfe.Bool(true), EnforceHYOK: tfe.Bool(false), MaxTTLEnabled: tfe.Bool(false),
		})
		if err != nil {
			t.Fatal(err)
		}
		read, err := c.Organizations.Read(ctx, "acme")
		if err != nil || read.Email != "new@acme.test" || org.Email != "new@acme.test" {
			t.Fatalf("after update: %+v, %v", read, err)
		}
		if read.CollaboratorAuthPolicy != tfe.AuthPolicyPassword || !read.SpeculativePlanManagementEnabled ||
			read.UserTokensEnabled == nil || !*read.UserTokensEnabled || read.CostEstimationEnabled || read.AllowForceDeleteWorkspaces {
			t.Errorf("settings read back = %+v", read)
		}
		for name, opts := range map[string]tfe.OrganizationUpdateOptions{
			"collaborator-auth-policy":      {Email: tfe.String("x@acme.test"), CollaboratorAuthPolicy: tfe.AuthPolicy(tfe.AuthPolicyTwoFactor)},
			"cost-estimation-enabled":       {Email: tfe.String("x@acme.test"), CostEstimationEnabled: tfe.Bool(true)},
			"allow-force-delete-workspaces": {Email: tfe.String("x@acme.test"), AllowForceDeleteWorkspaces: tfe.Bool(true)},
			"session-timeout":               {Email: tfe.String("x@acme.test"), SessionTimeout: tfe.Int(60)},
			"owners-team-saml-role-id":      {Email: tfe.String("x@acme.test"), OwnersTeamSAMLRoleID: tfe.String("admins")},
		} {
			_, err := c.Organizations.Update(ctx, "acme", opts)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("update with %s: %v, want a refusal naming it", name, err)
			}
		}
		if _, err := c.Organizations.Update(ctx, "acme", tfe.OrganizationUpdateOptions{Name: tfe.String("renamed")}); err == nil || !strings.Contains(err.Error(), "renamed") {
			t.Errorf("rename: %v, want refused", err)
		}
		if read, _ := c.Organizations.Read(ctx, "acme"); read == nil || read.Email != "new@acme.test" {
			t.Errorf("a refused update stored something: %+v", read)
		}
		if _, err := e.client(t, "user-token").Organizations.Update(ctx, "acme", tfe.OrganizationUpdateOptions{Email: tfe.String("evil@x.test")}); err != tfe.ErrResourceNotFound {
			t.Errorf("update without the grant: %v, want not found", err)
		}
	})
}

// TestGoTFEProjectUpdateDelete: a project is renamed and described; the
// default project and one holding a workspace are not deleted; an empty
// one is; tags on projects are inherited by their workspaces.
func TestGoTFEProjectUpdateDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		org, _ := c.Organizations.Read(ctx, "acme")
		p, err := c.Projects.Create(ctx, "acme", tfe.ProjectCreateOptions{Name: "infra", TagBindings: []*tfe.TagBinding{{Key: "cost", Value: "shared"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Projects.ListTagBindings(ctx, p.ID); err != nil || len(got) != 1 || got[0].Key != "cost" || got[0].Value != "shared" {
			t.Fatalf("tag bindings given at creation: %v, %v", got, err)
		}
		up, err := c.Projects.Update(ctx, p.ID, tfe.ProjectUpdateOptions{Name: tfe.String("platform"), Description: tfe.String("shared")})
		if err != nil || up.Name != "platform" || up.Description != "shared" {
			t.Fatalf("update = %+v, %v", up, err)
		}
		if read, err := c.Projects.Read(ctx, p.ID); err != nil || read.Name != "platform" || read.Description != "shared" {
			t.Fatalf("read back = %+v, %v", read, err)
		}
		if _, err := c.Projects.Update(ctx, p.ID, tfe.ProjectUpdateOptions{Name: tfe.String("Default Project")}); err == nil {
			t.Error("renamed onto another project's name")
		}
		if _, err := e.client(t, "user-token").Projects.Update(ctx, p.ID, tfe.ProjectUpdateOptions{Name: tfe.String("x")}); err != tfe.ErrResourceNotFound {
			t.Errorf("update without the grant: %v", err)
		}

		// Tags: the project's, the workspace's own, and the effective set.
		// go-tfe leaves an empty relationship out; sent, it empties the set.
		if code, body := sendRaw(t, "PATCH", e.url+"/api/v2/projects/"+p.ID, "root-token",
			`{"data":{"type":"projects","attributes":{},"relationships":{"tag-bindings":{"data":[]}}}}`); code != 200 {
			t.Fatalf("update with an empty tag-bindings relationship: %d %s", code, body)
		}
		if got, _ := c.Projects.ListTagBindings(ctx, p.ID); len(got) != 0 {
			t.Fatalf("an empty tag-bindings relationship left %v", got)
		}
		if _, err := c.Projects.AddTagBindings(ctx, p.ID, tfe.ProjectAddTagBindingsOptions{TagBindings: []*tfe.TagBinding{
			{Key: "team", Value: "platform"}, {Key: "env", Value: "prod"}}}); err != nil {
			t.Fatal(err)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("net"), Project: &tfe.Project{ID: p.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Workspaces.AddTagBindings(ctx, ws.ID, tfe.WorkspaceAddTagBindingsOptions{TagBindings: []*tfe.TagBinding{{Key: "env", Value: "dev"}}}); err != nil {
			t.Fatal(err)
		}
		eff, err := c.Workspaces.ListEffectiveTagBindings(ctx, ws.ID)
		if err != nil || len(eff) != 2 || eff[0].Key != "env" || eff[0].Value != "dev" || eff[1].Key != "team" || eff[1].Value != "platform" {
			t.Fatalf("effective = %v, %v", eff, err)
		}
		if own, err := c.Workspaces.ListTagBindings(ctx, ws.ID); err != nil || len(own) != 1 || own[0].Key != "env" {
			t.Fatalf("own = %v, %v", own, err)
		}
		for _, bad := range []tfe.TagBinding{{Key: "has space", Value: "x"}, {Key: "", Value: "x"}, {Key: "k", Value: "a\nb"}} {
			if _, err := c.Projects.AddTagBindings(ctx, p.ID, tfe.ProjectAddTagBindingsOptions{TagBindings: []*tfe.TagBinding{&bad}}); err == nil {
				t.Errorf("tag %+v accepted", bad)
			}
		}
		if got, _ := c.Projects.ListTagBindings(ctx, p.ID); len(got) != 2 {
			t.Errorf("refused tags changed the project's: %v", got)
		}
		code, body := sendRaw(t, "PATCH", e.url+"/api/v2/projects/"+p.ID+"/relationships/tag-bindings", "root-token",
			`{"data":[{"type":"tag-bindings","attributes":{"key":"only","value":"one","created-at":"x"}}]}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "created-at") {
			t.Errorf("a read-only binding attribute: %d %s", code, body)
		}
		code, body = sendRaw(t, "PATCH", e.url+"/api/v2/projects/"+p.ID+"/relationships/tag-bindings", "root-token",
			`{"data":[{"type":"tag-bindings","attributes":{"key":"only","value":"one"}}]}`)
		if got, _ := c.Projects.ListTagBindings(ctx, p.ID); code != 200 || len(got) != 1 || got[0].Key != "only" {
			t.Errorf("replace: %d %s, then %v", code, body, got)
		}

		if err := c.Projects.Delete(ctx, org.DefaultProject.ID); err == nil {
			t.Error("deleted the default project")
		}
		if err := c.Projects.Delete(ctx, p.ID); err == nil {
			t.Error("deleted a project holding a workspace")
		}
		if err := c.Workspaces.DeleteByID(ctx, ws.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.client(t, "user-token").Projects.Delete(ctx, p.ID); err != tfe.ErrResourceNotFound {
			t.Errorf("delete without the grant: %v", err)
		}
		if err := c.Projects.Delete(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Projects.Read(ctx, p.ID); err != tfe.ErrResourceNotFound {
			t.Errorf("read after delete: %v", err)
		}
	})
}

// TestStrictDocuments: an attribute runcred does not accept (unknown, or
// read-only) and a document of the wrong type are refused with a 422 that
// names them, and nothing is stored.
func TestStrictDocuments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		for _, tc := range []struct{ doc, names string }{
			{`{"data":{"type":"workspaces","attributes":{"name":"a","frobnicate":true}}}`, "frobnicate"},
			{`{"data":{"type":"workspaces","attributes":{"name":"b","created-at":"2020-01-01T00:00:00Z"}}}`, "created-at"},
			{`{"data":{"type":"workspaces","attributes":{"name":"c","locked":true}}}`, "locked"},
			{`{"data":{"type":"projects","attributes":{"name":"d"}}}`, `data.type is \"projects`},
			{`{"data":{"attributes":{"name":"e"}}}`, "data.type"},
			{`{"data":{"type":"workspaces","attributes":{"name":"f"},"relationships":{"ssh-key":{"data":{"type":"ssh-keys","id":"sshkey-1"}}}}}`, "ssh-key"},
		} {
			code, body := sendRaw(t, "POST", e.url+"/api/v2/organizations/acme/workspaces", "root-token", tc.doc)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.names) {
				t.Errorf("%s: %d %s, want 422 naming %s", tc.doc, code, body, tc.names)
			}
		}
		if l, err := c.Workspaces.List(ctx, "acme", nil); err != nil || len(l.Items) != 0 {
			t.Errorf("a refused document stored a workspace: %v, %v", l, err)
		}
		code, body := sendRaw(t, "PATCH", e.url+"/api/v2/organizations/acme", "root-token",
			`{"data":{"type":"organizations","attributes":{"email":"x@acme.test","external-id":"org-x"}}}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "external-id") {
			t.Errorf("read-only organization attribute: %d %s", code, body)
		}
		if org, _ := c.Organizations.Read(ctx, "acme"); org.Email != "ops@acme.test" {
			t.Errorf("a refused update stored the email %q", org.Email)
		}
	})
}
