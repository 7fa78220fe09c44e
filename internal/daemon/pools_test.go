package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/secret"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// TestAgentPoolTokensThroughTheBroker: an agent token issued through
// go-tfe is a broker token whose policy lets it claim its own pool's jobs
// and nothing else, and which stops authenticating once deleted.
func TestAgentPoolTokensThroughTheBroker(t *testing.T) {
	daemontest.Each(t, testAgentPoolTokensThroughTheBroker)
}

func testAgentPoolTokensThroughTheBroker(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := goTFE(t, srv, srv.Token)
	for _, org := range []string{"acme", "other"} {
		if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(org), Email: tfe.String("ops@" + org + ".test")}); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := root.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("build")})
	if err != nil {
		t.Fatal(err)
	}
	sibling, err := root.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("deploy")})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := root.AgentPools.Create(ctx, "other", tfe.AgentPoolCreateOptions{Name: tfe.String("build")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app"),
		ExecutionMode: tfe.String("agent"), AgentPoolID: tfe.String(pool.ID)}); err != nil {
		t.Fatal(err)
	}
	tok, err := root.AgentTokens.Create(ctx, pool.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("runner")})
	if err != nil {
		t.Fatal(err)
	}

	caller, err := srv.D.Broker.Caller(ctx, secret.FromString(tok.Token), loopback)
	if err != nil {
		t.Fatal(err)
	}
	if caller.Meta[resource.MetaAgentPoolID] != pool.ID {
		t.Errorf("agent token meta = %v", caller.Meta)
	}
	agent := access.WithCaller(ctx, caller)
	// Authorized: nothing is queued, so no job and no error.
	if job, err := srv.D.Platform.Runs.Claim(agent, pool.ID); err != nil || job != nil {
		t.Errorf("claim own pool's job = %+v, %v", job, err)
	}
	for name, id := range map[string]string{"sibling pool": sibling.ID, "other org's pool": foreign.ID, "default pool": ""} {
		if _, err := srv.D.Platform.Runs.Claim(agent, id); !fail.Is(err, fail.Denied) {
			t.Errorf("claim from %s: %v, want denied", name, err)
		}
	}
	if _, _, err := srv.D.Platform.Workspaces.Workspaces(agent, "acme", workspace.Filter{}); !fail.Is(err, fail.Denied) {
		t.Errorf("agent token lists workspaces: %v", err)
	}
	if _, err := srv.D.Platform.AgentPools.Pool(agent, pool.ID); !fail.Is(err, fail.Denied) {
		t.Errorf("agent token reads its pool: %v", err)
	}
	ac := goTFE(t, srv, tok.Token)
	if _, err := ac.Workspaces.Read(ctx, "acme", "app"); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("agent token reads a workspace over HTTP: %v", err)
	}
	if _, err := ac.AgentTokens.Create(ctx, pool.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("more")}); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("agent token mints agent tokens: %v", err)
	}

	// A pool in use stays; deleting the token ends it.
	if err := root.AgentPools.Delete(ctx, pool.ID); err == nil || !strings.Contains(err.Error(), "is used by") {
		t.Errorf("delete pool in use: %v", err)
	}
	if err := root.AgentTokens.Delete(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.D.Broker.Caller(ctx, secret.FromString(tok.Token), loopback); !fail.Is(err, fail.Unauthenticated) {
		t.Errorf("deleted agent token authenticates: %v", err)
	}
	if _, err := ac.AgentPools.Read(ctx, pool.ID); !errors.Is(err, tfe.ErrUnauthorized) {
		t.Errorf("deleted agent token over HTTP: %v, want ErrUnauthorized", err)
	}

	// A token revoked through the broker's own API can still be deleted.
	gone, err := root.AgentTokens.Create(ctx, sibling.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("gone")})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := srv.D.Broker.Caller(ctx, secret.FromString(gone.Token), loopback)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.D.Broker.RevokeAccessor(ctx, gc.Accessor, "test"); err != nil {
		t.Fatal(err)
	}
	if err := root.AgentTokens.Delete(ctx, gone.ID); err != nil {
		t.Errorf("delete a token the broker already revoked: %v", err)
	}

	// Deleting a pool revokes its remaining tokens.
	st, err := root.AgentTokens.Create(ctx, sibling.ID, tfe.AgentTokenCreateOptions{Description: tfe.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	if err := root.AgentPools.Delete(ctx, sibling.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.D.Broker.Caller(ctx, secret.FromString(st.Token), loopback); !fail.Is(err, fail.Unauthenticated) {
		t.Errorf("token of a deleted pool authenticates: %v", err)
	}
}

// TestPoolsTeamTokenThroughTheBroker: a team token issued through go-tfe
// holds the team policy: granted write on a workspace, it writes variables, recorded as the team's, and
// may not read run variables, delete workspaces or reach other
// organizations.
func TestPoolsTeamTokenThroughTheBroker(t *testing.T) {
	daemontest.Each(t, testPoolsTeamTokenThroughTheBroker)
}

func testPoolsTeamTokenThroughTheBroker(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := goTFE(t, srv, srv.Token)
	for _, org := range []string{"acme", "other"} {
		if _, err := root.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(org), Email: tfe.String("ops@" + org + ".test")}); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := root.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Workspaces.Create(ctx, "other", tfe.WorkspaceCreateOptions{Name: tfe.String("app")}); err != nil {
		t.Fatal(err)
	}
	team, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("ops")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: team, Workspace: ws}); err != nil {
		t.Fatal(err)
	}
	tok, err := root.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	tc := goTFE(t, srv, tok.Token)
	v, err := tc.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String("region"), Value: tfe.String("eu-west-1"),
		Category: tfe.Category(tfe.CategoryTerraform)})
	if err != nil {
		t.Fatalf("team writes a variable: %v", err)
	}
	attrs := attributes(t, srv, "/api/v2/workspaces/"+ws.ID+"/vars/"+v.ID)
	if attrs["written-by-kind"] != "team" || attrs["written-by-id"] != team.ID {
		t.Errorf("variable written with a team token: provenance %v", attrs)
	}
	if _, err := tc.Workspaces.Read(ctx, "acme", "app"); err != nil {
		t.Errorf("team reads its org's workspace: %v", err)
	}

	// What the team policy does not grant.
	if err := tc.Workspaces.Delete(ctx, "acme", "app"); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("team deletes a workspace: %v", err)
	}
	if _, err := tc.Workspaces.Read(ctx, "other", "app"); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("team reads another org's workspace: %v", err)
	}
	if _, err := tc.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("p")}); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("team creates an agent pool: %v", err)
	}
	if _, err := tc.TeamTokens.Create(ctx, team.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
		t.Errorf("team mints its own token: %v", err)
	}
	caller, err := srv.D.Broker.Caller(ctx, secret.FromString(tok.Token), loopback)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.D.Platform.Variables.WorkspaceVariables(access.WithCaller(ctx, caller), ws.ID); !fail.Is(err, fail.Denied) {
		t.Errorf("team reads run variables: %v", err)
	}

	// A new legacy token replaces the old; deleting the team ends both.
	next, err := root.TeamTokens.Create(ctx, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Workspaces.Read(ctx, "acme", "app"); !errors.Is(err, tfe.ErrUnauthorized) {
		t.Errorf("replaced team token: %v, want ErrUnauthorized", err)
	}
	if err := root.Teams.Delete(ctx, team.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.D.Broker.Caller(ctx, secret.FromString(next.Token), loopback); !fail.Is(err, fail.Unauthenticated) {
		t.Errorf("token of a deleted team authenticates: %v", err)
	}
}

func goTFE(t *testing.T, srv *daemontest.Server, token string) *tfe.Client {
	t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: token, RetryServerErrors: false, HTTPClient: srv.HTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// attributes GETs a JSON:API resource as root and returns its attributes.
func attributes(t *testing.T, srv *daemontest.Server, path string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.D.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc struct {
		Data struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("GET %s = %d: %s", path, resp.StatusCode, b)
	}
	return doc.Data.Attributes
}
