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
	"github.com/runcred/runcred/internal/token"
)

// TestAgentTokenNeverStoredOrAudited: the value of an agent pool's or a
// team's token reaches neither the database nor the audit log. It scans
// every byte the database holds, and first proves the scan sees what is
// stored in plain next to the token (its id and description).
func TestAgentTokenNeverStoredOrAudited(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			path := b.NewURL(t)
			f := pt.NewApps(t, storetest.Open(t, path))
			p, err := f.Svc.AgentPools.Create(pt.As(pt.Root), "acme", agentpool.Options{Name: new("build")})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := f.Svc.AgentPools.CreateAgentToken(pt.As(pt.Root), p.ID, "marker-pool-5e1d")
			if err != nil {
				t.Fatal(err)
			}
			tm, err := f.Svc.Teams.Create(pt.As(pt.Root), "acme", team.Options{Name: new("ops")})
			if err != nil {
				t.Fatal(err)
			}
			tt, err := f.Svc.Teams.CreateToken(pt.As(pt.Root), tm.ID, team.TokenOptions{Description: new("marker-team-9b07")})
			if err != nil {
				t.Fatal(err)
			}
			legacy, err := f.Svc.Teams.CreateToken(pt.As(pt.Root), tm.ID, team.TokenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			all := storetest.Everything(t, f.DB, path)
			for _, plain := range []string{tok.ID, "marker-pool-5e1d", tt.ID, "marker-team-9b07", legacy.ID} {
				if !strings.Contains(all, plain) {
					t.Fatalf("the scan does not see %q, stored in plain; it would miss the token too", plain)
				}
			}
			rows, err := f.DB.Query(context.Background(), `SELECT body FROM audit_log`)
			if err != nil {
				t.Fatal(err)
			}
			if bodies, err := store.Strings(rows); err != nil || len(bodies) == 0 {
				t.Fatalf("no audit record to scan (%v)", err)
			}
			for _, v := range []secret.Value{tok.Token, tt.Token, legacy.Token} {
				for _, s := range []string{v.RevealString(), strings.TrimPrefix(v.RevealString(), token.Prefix)} {
					if strings.Contains(all, s) {
						t.Errorf("the database or the audit log holds a token")
					}
				}
			}
		})
	}
}

// TestRevokeOrganizationTokens: what organization deletion must call
// revokes every pool and team token of the organization and drops their
// policies, and leaves other organizations' alone.
func TestRevokeOrganizationTokens(t *testing.T) {
	f := pt.NewApps(t, storetest.Open(t, storetest.SQLiteURL(t)))
	var toks []apitoken.Token
	for _, org := range []string{"acme", "other"} {
		p, err := f.Svc.AgentPools.Create(pt.As(pt.Root), org, agentpool.Options{Name: new("build")})
		if err != nil {
			t.Fatal(err)
		}
		at, err := f.Svc.AgentPools.CreateAgentToken(pt.As(pt.Root), p.ID, "d")
		if err != nil {
			t.Fatal(err)
		}
		tm, err := f.Svc.Teams.Create(pt.As(pt.Root), org, team.Options{Name: new("ops")})
		if err != nil {
			t.Fatal(err)
		}
		tt, err := f.Svc.Teams.CreateToken(pt.As(pt.Root), tm.ID, team.TokenOptions{})
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
