package api_test

import (
	"net/http"
	"strings"
	"testing"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFETeamAttributes: allow-member-token-management is stored and
// read back; organization-wide grants runcred has nothing to govern with
// and an SSO team id are refused, naming the attribute, with nothing
// stored; an agent token is created with the documented type.
func TestGoTFETeamAttributes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")
		tm, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("ops"), AllowMemberTokenManagement: tfe.Bool(false),
			OrganizationAccess: &tfe.OrganizationAccessOptions{ManageWorkspaces: tfe.Bool(false)}})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := c.Teams.Read(ctx, tm.ID); err != nil || r.AllowMemberTokenManagement || r.OrganizationAccess == nil || r.OrganizationAccess.ManageWorkspaces {
			t.Fatalf("read back = %+v, %v", r, err)
		}
		if r, err := c.Teams.Update(ctx, tm.ID, tfe.TeamUpdateOptions{AllowMemberTokenManagement: tfe.Bool(true)}); err != nil || !r.AllowMemberTokenManagement {
			t.Fatalf("update = %+v, %v", r, err)
		}
		for name, opts := range map[string]tfe.TeamCreateOptions{
			"organization-access": {Name: tfe.String("a"), OrganizationAccess: &tfe.OrganizationAccessOptions{ManageVCSSettings: tfe.Bool(true)}},
			"sso-team-id":         {Name: tfe.String("b"), SSOTeamID: tfe.String("sso-1")},
		} {
			if _, err := c.Teams.Create(ctx, "acme", opts); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("team with %s: %v, want a refusal naming it", name, err)
			}
		}
		if l, err := c.Teams.List(ctx, "acme", nil); err != nil || len(l.Items) != 2 { // ops and owners
			t.Errorf("a refused team was stored: %+v, %v", l, err)
		}

		pool, err := c.AgentPools.Create(ctx, "acme", tfe.AgentPoolCreateOptions{Name: tfe.String("p")})
		if err != nil {
			t.Fatal(err)
		}
		code, body := sendRaw(t, "POST", e.url+"/api/v2/agent-pools/"+pool.ID+"/authentication-tokens", "root-token",
			`{"data":{"type":"authentication-tokens","attributes":{"description":"ci"}}}`)
		if code != http.StatusCreated || !strings.Contains(body, `"token":"`) {
			t.Errorf("agent token of type authentication-tokens: %d %s", code, body)
		}
		code, body = sendRaw(t, "POST", e.url+"/api/v2/agent-pools/"+pool.ID+"/authentication-tokens", "root-token",
			`{"data":{"type":"teams","attributes":{"description":"ci"}}}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "data.type") {
			t.Errorf("agent token of type teams: %d %s", code, body)
		}
	})
}
