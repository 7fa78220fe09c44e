package agentpool_test

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/apitoken"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestAgentPoolGrants: every pool and agent token operation needs its own
// grant on the pool's path in its organization.
func TestAgentPoolGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewApps(t, db)
		ctx := pt.As(pt.User)
		if _, err := f.Svc.AgentPools.Create(ctx, "acme", agentpool.Options{Name: new("build")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("create pool without grant: %v", err)
		}
		if _, err := f.Svc.AgentPools.Create(context.Background(), "acme", agentpool.Options{Name: new("build")}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("create pool anonymously: %v", err)
		}
		f.Grants.Grant("runcred/orgs/acme/agent-pools", access.Create, access.List)
		p, err := f.Svc.AgentPools.Create(ctx, "acme", agentpool.Options{Name: new("build")})
		if err != nil {
			t.Fatal(err)
		}
		// The grant is for acme: the same path in another org is not granted.
		if _, err := f.Svc.AgentPools.Create(ctx, "other", agentpool.Options{Name: new("build")}); !fail.Is(err, fail.Denied) {
			t.Errorf("create pool in other org: %v", err)
		}
		foreign, err := f.Svc.AgentPools.Create(pt.As(pt.Root), "other", agentpool.Options{Name: new("build")})
		if err != nil {
			t.Fatal(err)
		}
		if l, total, err := f.Svc.AgentPools.Pools(ctx, "acme", agentpool.Filter{}); err != nil || total != 1 || l[0].ID != p.ID {
			t.Errorf("list pools = %+v %d, %v", l, total, err)
		}
		if _, _, err := f.Svc.AgentPools.Pools(ctx, "other", agentpool.Filter{}); !fail.Is(err, fail.Denied) {
			t.Errorf("list other org's pools: %v", err)
		}
		pool := "runcred/orgs/acme/agent-pools/" + p.ID
		for name, call := range map[string]func() error{
			"read": func() error { _, err := f.Svc.AgentPools.Pool(ctx, p.ID); return err },
			"update": func() error {
				_, err := f.Svc.AgentPools.Update(ctx, p.ID, agentpool.Options{Name: new("x")})
				return err
			},
			"delete": func() error { return f.Svc.AgentPools.Delete(ctx, p.ID) },
			"create token": func() error {
				_, err := f.Svc.AgentPools.CreateAgentToken(ctx, p.ID, "d")
				return err
			},
			"list tokens": func() error { _, _, err := f.Svc.AgentPools.AgentTokens(ctx, p.ID, resource.Page{}); return err },
		} {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without grant: %v", name, err)
			}
		}
		// A grant on one pool is not a grant on another org's pool.
		f.Grants.Grant(pool, access.Read)
		f.Grants.Grant(pool+"/tokens", access.Create, access.List)
		if _, err := f.Svc.AgentPools.Pool(ctx, foreign.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("read other org's pool: %v", err)
		}
		if _, err := f.Svc.AgentPools.CreateAgentToken(ctx, foreign.ID, "d"); !fail.Is(err, fail.Denied) {
			t.Errorf("token for other org's pool: %v", err)
		}
		tok, err := f.Svc.AgentPools.CreateAgentToken(ctx, p.ID, "runner 1")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Token.Empty() || tok.Kind != apitoken.KindAgent || tok.OwnerID != p.ID || tok.CreatedBy.Kind != resource.WriterUser || tok.CreatedBy.ID != "acc-alice" {
			t.Errorf("agent token = %+v", tok)
		}
		if _, err := f.Svc.AgentPools.CreateAgentToken(ctx, p.ID, "  "); !fail.Is(err, fail.Invalid) {
			t.Errorf("token without description: %v", err)
		}
		// Reading or deleting one token needs a grant on that token.
		if _, err := f.Svc.APITokens.AuthToken(ctx, tok.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("read token without grant: %v", err)
		}
		if err := f.Svc.APITokens.DeleteAuthToken(ctx, tok.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("delete token without grant: %v", err)
		}
		if !f.Tokens.Live(tok.Token) {
			t.Fatal("a denied delete revoked the token")
		}
		f.Grants.Grant(pool+"/tokens/"+tok.ID, access.Read, access.Delete)
		got, err := f.Svc.APITokens.AuthToken(ctx, tok.ID)
		if err != nil || !got.Token.Empty() || got.Description != "runner 1" {
			t.Errorf("read token = %+v, %v", got, err)
		}
		if err := f.Svc.APITokens.DeleteAuthToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if f.Tokens.Live(tok.Token) {
			t.Error("a deleted agent token still authenticates")
		}
		if err := f.Svc.APITokens.DeleteAuthToken(ctx, tok.ID); !fail.Is(err, fail.NotFound) {
			t.Errorf("delete deleted token: %v", err)
		}

		// Without a token issuer, tokens are unsupported, plainly.
		if _, err := f.Bare.AgentPools.CreateAgentToken(pt.As(pt.Root), p.ID, "d"); !fail.Is(err, fail.Unsupported) || !strings.Contains(fail.Message(err), "no token issuer") {
			t.Errorf("token without issuer: %v", err)
		}

		// A workspace may not use another organization's pool.
		f.Grants.Grant("runcred/orgs/acme/workspaces/app", access.Update)
		if _, err := f.Svc.Workspaces.Update(ctx, f.App.ID, workspace.Options{AgentPoolID: &foreign.ID}); !fail.Is(err, fail.Invalid) {
			t.Errorf("workspace into other org's pool: %v", err)
		}
		if w, err := f.Svc.Workspaces.Update(ctx, f.App.ID, workspace.Options{AgentPoolID: &p.ID}); err != nil || w.AgentPoolID != p.ID {
			t.Fatalf("workspace into pool = %+v, %v", w, err)
		}
		f.Grants.Grant(pool, access.Delete)
		if err := f.Svc.AgentPools.Delete(ctx, p.ID); !fail.Is(err, fail.Conflict) {
			t.Errorf("delete pool in use: %v", err)
		}
	})
}
