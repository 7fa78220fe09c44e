package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// sendRaw sends body (a JSON:API document, or "") and returns the status
// and answer, for what go-tfe checks on the client side or hides.
func sendRaw(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustOrg(t *testing.T, ctx context.Context, c *tfe.Client, name string) {
	t.Helper()
	if _, err := c.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(name), Email: tfe.String("ops@" + name + ".test")}); err != nil {
		t.Fatal(err)
	}
}

// TestGoTFEAgentPools drives agent pools and agent tokens with go-tfe.
func TestGoTFEAgentPools(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		mustOrg(t, ctx, c, "other")

		p, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("build")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ID, "apool-") || p.Name != "build" || !p.OrganizationScoped || p.CreatedAt.IsZero() ||
			p.Organization == nil || p.Organization.Name != "acme" || len(p.Workspaces) != 0 {
			t.Fatalf("created pool = %+v", p)
		}
		body, ok := e.tokens.Policy("agent-pool-" + p.ID)
		if !ok || !strings.Contains(body, `path "runcred/agent-pools/`+p.ID+`/jobs" { capabilities = ["update"] }`) {
			t.Fatalf("pool policy = %q, %v", body, ok)
		}
		if _, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("deploy")}); err != nil {
			t.Fatal(err)
		}
		foreign, err := c.AgentPools.Create(ctx, "other", tfe.AgentPoolCreateOptions{Name: tfe.String("build")})
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.AgentPools.List(ctx, "acme", nil)
		if err != nil || len(l.Items) != 2 || l.TotalCount != 2 || l.Items[0].Name != "build" || l.Items[1].Name != "deploy" {
			t.Fatalf("list pools = %+v, %v", l, err)
		}
		if l, err := c.AgentPools.List(ctx, "acme", &tfe.AgentPoolListOptions{Query: "dep"}); err != nil || len(l.Items) != 1 || l.Items[0].Name != "deploy" {
			t.Fatalf("search pools = %+v, %v", l, err)
		}
		if _, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("build")}); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("duplicate pool: %v", err)
		}

		// A workspace may use a pool of its own organization only.
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app"), ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(p.ID)})
		if err != nil || ws.AgentPool == nil || ws.AgentPool.ID != p.ID {
			t.Fatalf("workspace in pool = %+v, %v", ws, err)
		}
		if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("x"), ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(foreign.ID)}); err == nil ||
			!strings.Contains(err.Error(), "is not an agent pool of organization") {
			t.Errorf("workspace in another org's pool: %v", err)
		}
		if _, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("x"), ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String("apool-Missing1")}); err == nil ||
			!strings.Contains(err.Error(), "is not an agent pool of organization") {
			t.Errorf("workspace in unknown pool: %v", err)
		}
		if got, err := c.AgentPools.Read(ctx, p.ID); err != nil || len(got.Workspaces) != 1 || got.Workspaces[0].ID != ws.ID {
			t.Fatalf("read pool = %+v, %v", got, err)
		}

		// A pool that is not organization-scoped serves only its allowed workspaces.
		other, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("other")})
		if err != nil {
			t.Fatal(err)
		}
		upd, err := c.AgentPools.Update(ctx, p.ID, tfe.AgentPoolUpdateOptions{
			Name: tfe.String("builders"), OrganizationScoped: tfe.Bool(false), AllowedWorkspaces: []*tfe.Workspace{{ID: ws.ID}},
		})
		if err != nil || upd.Name != "builders" || upd.OrganizationScoped || len(upd.AllowedWorkspaces) != 1 || upd.AllowedWorkspaces[0].ID != ws.ID {
			t.Fatalf("update pool = %+v, %v", upd, err)
		}
		if _, err := c.Workspaces.UpdateByID(ctx, other.ID, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(p.ID)}); err == nil ||
			!strings.Contains(err.Error(), "does not allow workspace") {
			t.Errorf("workspace not allowed in pool: %v", err)
		}
		if _, err := c.AgentPools.UpdateAllowedWorkspaces(ctx, p.ID, tfe.AgentPoolAllowedWorkspacesUpdateOptions{AllowedWorkspaces: []*tfe.Workspace{{ID: ws.ID}, {ID: other.ID}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Workspaces.UpdateByID(ctx, other.ID, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(p.ID)}); err != nil {
			t.Errorf("allowed workspace into pool: %v", err)
		}
		cleared, err := c.AgentPools.UpdateAllowedWorkspaces(ctx, p.ID, tfe.AgentPoolAllowedWorkspacesUpdateOptions{AllowedWorkspaces: []*tfe.Workspace{}})
		if err != nil || len(cleared.AllowedWorkspaces) != 0 || cleared.Name != "builders" {
			t.Errorf("clear allowed workspaces = %+v, %v", cleared, err)
		}
		if _, err := c.AgentPools.Update(ctx, p.ID, tfe.AgentPoolUpdateOptions{AllowedWorkspaces: []*tfe.Workspace{{ID: foreign.ID}}}); err == nil ||
			!strings.Contains(err.Error(), "is not a workspace of organization") {
			t.Errorf("allowing a non-workspace: %v", err)
		}
		if code, b := sendRaw(t, "PATCH", e.url+"/api/v2/agent-pools/"+p.ID, "root-token",
			`{"data":{"type":"agent-pools","relationships":{"allowed-projects":{"data":[{"type":"projects","id":"prj-abc"}]}}}}`); code != 422 ||
			!strings.Contains(b, "allowed projects") {
			t.Errorf("allowed projects = %d %s", code, b)
		}

		// Agent tokens: the value once, then metadata only.
		tok, err := c.AgentTokens.Create(ctx, p.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("ci runner")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.ID, "at-") || tok.Token == "" || tok.Description != "ci runner" || tok.CreatedAt.IsZero() {
			t.Fatalf("created token = %+v", tok)
		}
		agent, ok := e.tokens.Caller(tok.Token)
		if !ok || len(agent.Policies) != 1 || agent.Policies[0] != "agent-pool-"+p.ID || agent.Meta[resource.MetaAgentPoolID] != p.ID {
			t.Fatalf("issued agent token = %+v, %v", agent, ok)
		}
		read, err := c.AgentTokens.Read(ctx, tok.ID)
		if err != nil || read.Token != "" || read.Description != "ci runner" || !read.LastUsedAt.IsZero() {
			t.Fatalf("read token = %+v, %v", read, err)
		}
		second, err := c.AgentTokens.Create(ctx, p.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("second")})
		if err != nil {
			t.Fatal(err)
		}
		tl, err := c.AgentTokens.List(ctx, p.ID)
		if err != nil || len(tl.Items) != 2 || tl.TotalCount != 2 || tl.Items[0].Token != "" || tl.Items[1].Token != "" {
			t.Fatalf("list tokens = %+v, %v", tl, err)
		}
		if code, b := sendRaw(t, "POST", e.url+"/api/v2/agent-pools/"+p.ID+"/authentication-tokens", "root-token",
			`{"data":{"type":"agent-tokens","attributes":{}}}`); code != 422 || !strings.Contains(b, "description is required") {
			t.Errorf("token without description = %d %s", code, b)
		}
		for _, junk := range []string{"apool-Missing1", "not-an-id"} {
			if _, err := c.AgentTokens.Create(ctx, junk, tfe.AgentTokenCreateOptions{Description: tfe.String("x")}); !errors.Is(err, tfe.ErrResourceNotFound) {
				t.Errorf("token for pool %q: %v", junk, err)
			}
		}

		// The agent token is no API key: it reads nothing (RootOnly here;
		// the daemon's test checks its real policy).
		ac := e.client(t, tok.Token)
		if _, err := ac.Workspaces.List(ctx, "acme", nil); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("agent token lists workspaces: %v", err)
		}
		if err := c.AgentTokens.Delete(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AgentTokens.Read(ctx, tok.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted token: %v", err)
		}
		if _, err := ac.Workspaces.List(ctx, "acme", nil); !errors.Is(err, tfe.ErrUnauthorized) {
			t.Errorf("deleted agent token: %v, want ErrUnauthorized", err)
		}
		if err := c.AgentTokens.Delete(ctx, tok.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("delete deleted token: %v", err)
		}

		// A pool in use cannot go; once free it goes with its tokens and policy.
		if err := c.AgentPools.Delete(ctx, p.ID); err == nil || !strings.Contains(err.Error(), "is used by 2 workspace(s)") {
			t.Errorf("delete pool in use: %v", err)
		}
		if code, _ := sendRaw(t, "DELETE", e.url+"/api/v2/agent-pools/"+p.ID, "root-token", ""); code != http.StatusConflict {
			t.Errorf("delete pool in use = %d, want 409", code)
		}
		for _, id := range []string{ws.ID, other.ID} {
			if _, err := c.Workspaces.UpdateByID(ctx, id, tfe.WorkspaceUpdateOptions{ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String("")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.AgentPools.Delete(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AgentPools.Read(ctx, p.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted pool: %v", err)
		}
		if _, ok := e.tokens.Caller(second.Token); ok {
			t.Error("a deleted pool's token still authenticates")
		}
		if _, ok := e.tokens.Policy("agent-pool-" + p.ID); ok {
			t.Error("a deleted pool's policy remains")
		}
		if _, err := c.AgentTokens.Read(ctx, second.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read token of deleted pool: %v", err)
		}
	})
}

// TestAgentPoolDenials: anonymous callers get 401; denied callers 404 on
// every pool and token operation, and nothing they try takes effect.
func TestAgentPoolDenials(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)))
	ctx := ctxT(t)
	root := e.client(t, "root-token")
	mustOrg(t, ctx, root, "acme")
	p, err := root.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("build")})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := root.AgentTokens.Create(ctx, p.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(c *tfe.Client) error{
		"list pools": func(c *tfe.Client) error { _, err := c.AgentPools.List(ctx, "acme", nil); return err },
		"create pool": func(c *tfe.Client) error {
			_, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("x")})
			return err
		},
		"read pool": func(c *tfe.Client) error { _, err := c.AgentPools.Read(ctx, p.ID); return err },
		"update pool": func(c *tfe.Client) error {
			_, err := c.AgentPools.Update(ctx, p.ID, tfe.AgentPoolUpdateOptions{Name: tfe.String("x")})
			return err
		},
		"delete pool": func(c *tfe.Client) error { return c.AgentPools.Delete(ctx, p.ID) },
		"create token": func(c *tfe.Client) error {
			_, err := c.AgentTokens.Create(ctx, p.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("x")})
			return err
		},
		"list tokens":  func(c *tfe.Client) error { _, err := c.AgentTokens.List(ctx, p.ID); return err },
		"read token":   func(c *tfe.Client) error { _, err := c.AgentTokens.Read(ctx, tok.ID); return err },
		"delete token": func(c *tfe.Client) error { return c.AgentTokens.Delete(ctx, tok.ID) },
	}
	anon, user, agent := e.client(t, "unknown-token"), e.client(t, "user-token"), e.client(t, tok.Token)
	for name, call := range calls {
		if err := call(anon); !errors.Is(err, tfe.ErrUnauthorized) {
			t.Errorf("anonymous %s: %v, want ErrUnauthorized", name, err)
		}
		if err := call(user); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("denied %s: %v, want ErrResourceNotFound", name, err)
		}
		if err := call(agent); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("agent token %s: %v, want ErrResourceNotFound", name, err)
		}
	}
	if got, err := root.AgentPools.Read(ctx, p.ID); err != nil || got.Name != "build" {
		t.Errorf("pool after denied calls = %+v, %v", got, err)
	}
	if _, ok := e.tokens.Caller(tok.Token); !ok {
		t.Error("a denied delete revoked the token")
	}
	if l, err := root.AgentTokens.List(ctx, p.ID); err != nil || len(l.Items) != 1 {
		t.Errorf("tokens after denied calls = %+v, %v", l, err)
	}
}
