package apitoken_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/apitoken"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestAgentTokenNeverStoredOrAudited: the token value reaches neither the
// database nor the audit log.
func TestAgentTokenNeverStoredOrAudited(t *testing.T) {
	path := storetest.SQLiteURL(t)
	f := pt.NewApps(t, storetest.Open(t, path))
	p, err := f.Svc.AgentPools.CreateAgentPool(pt.As(pt.Root), "acme", agentpool.Options{Name: new("build")})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.Svc.AgentPools.CreateAgentToken(pt.As(pt.Root), p.ID, "d")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := f.Svc.Teams.CreateTeam(pt.As(pt.Root), "acme", team.Options{Name: new("ops")})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := f.Svc.Teams.CreateTeamToken(pt.As(pt.Root), tm.ID, team.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`SELECT body FROM audit_log`, `SELECT accessor || ' ' || COALESCE(description, '') FROM platform_tokens`} {
		rows, err := f.DB.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		all, err := store.Strings(rows)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			for _, v := range []secret.Value{tok.Token, tt.Token} {
				if strings.Contains(s, v.RevealString()) {
					t.Errorf("%s holds a token: %s", q, s)
				}
			}
		}
	}
}

// TestRevokeOrganizationTokens: what organization deletion must call
// revokes every pool and team token of the organization and drops their
// policies, and leaves other organizations' alone.
func TestRevokeOrganizationTokens(t *testing.T) {
	f := pt.NewApps(t, storetest.Open(t, storetest.SQLiteURL(t)))
	var toks []apitoken.Token
	for _, org := range []string{"acme", "other"} {
		p, err := f.Svc.AgentPools.CreateAgentPool(pt.As(pt.Root), org, agentpool.Options{Name: new("build")})
		if err != nil {
			t.Fatal(err)
		}
		at, err := f.Svc.AgentPools.CreateAgentToken(pt.As(pt.Root), p.ID, "d")
		if err != nil {
			t.Fatal(err)
		}
		tm, err := f.Svc.Teams.CreateTeam(pt.As(pt.Root), org, team.Options{Name: new("ops")})
		if err != nil {
			t.Fatal(err)
		}
		tt, err := f.Svc.Teams.CreateTeamToken(pt.As(pt.Root), tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, at, tt)
	}
	// A Ledger is its database and issuer and nothing more, so this one is
	// the one the service's organizations call.
	cfg := f.Config
	ledger := apitoken.NewLedger(resource.Deps{DB: cfg.DB, Seal: cfg.Seal, Audit: cfg.Audit, Authz: cfg.Authz, Now: time.Now}, cfg.Tokens)
	if err := ledger.RevokeOrganizationTokens(pt.As(pt.Root), "acme"); err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if live, want := f.Tokens.Live(tok.Token), i >= 2; live != want {
			t.Errorf("token %d (%s of %s) live = %v, want %v", i, tok.Kind, tok.Organization, live, want)
		}
	}
	if _, ok := f.Tokens.Policy("agent-pool-" + toks[0].OwnerID); ok {
		t.Error("acme's pool policy remains")
	}
	if _, ok := f.Tokens.Policy("team-" + toks[3].OwnerID); !ok {
		t.Error("other's team policy was deleted")
	}
}
