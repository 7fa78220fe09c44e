package platform_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/agentpool"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// issued returns who tok names; the test fails if it is not live.
func issued(t *testing.T, tokens *platformtest.Tokens, tok secret.Value) access.Caller {
	t.Helper()
	c, ok := tokens.Caller(tok.RevealString())
	if !ok {
		t.Fatalf("token was not issued or is revoked")
	}
	return c
}

// live reports whether tok was issued and is not revoked.
func live(tokens *platformtest.Tokens, tok secret.Value) bool {
	_, ok := tokens.Caller(tok.RevealString())
	return ok
}

// tokenFixture is a service that issues tokens, with organizations acme
// and other, each with a workspace "app".
type tokenFixture struct {
	svc      *platform.Service
	bare     *platform.Service // the same, without a token issuer
	db       *store.DB
	g        grants
	tokens   *platformtest.Tokens
	app      workspace.Workspace // in acme
	otherApp workspace.Workspace // in other
}

func tokenSetup(t *testing.T, db *store.DB) *tokenFixture {
	t.Helper()
	rk, err := seal.ParseRootKey([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(context.Background(), db, rk)
	if err != nil {
		t.Fatal(err)
	}
	f := &tokenFixture{db: db, g: grants{}, tokens: platformtest.NewTokens()}
	cfg := platform.Config{DB: db, Seal: sl, Audit: audit.New(db, secret.FromString("k"), nil), Authz: f.g}
	f.bare = platform.New(cfg)
	cfg.Tokens = f.tokens
	f.svc = platform.New(cfg)
	for _, org := range []string{"acme", "other"} {
		if _, err := f.svc.Organizations.CreateOrganization(as(root), organization.Options{Name: org, Email: "a@" + org + ".test"}); err != nil {
			t.Fatal(err)
		}
	}
	if f.app, err = f.svc.Workspaces.CreateWorkspace(as(root), "acme", workspace.Options{Name: str("app")}); err != nil {
		t.Fatal(err)
	}
	if f.otherApp, err = f.svc.Workspaces.CreateWorkspace(as(root), "other", workspace.Options{Name: str("app")}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *tokenFixture) grant(path string, caps ...string) {
	for _, c := range caps {
		f.g[path+" "+c] = true
	}
}

// TestAgentPoolGrants: every pool and agent token operation needs its own
// grant on the pool's path in its organization.
func TestAgentPoolGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := tokenSetup(t, db)
		ctx := as(user)
		if _, err := f.svc.AgentPools.CreateAgentPool(ctx, "acme", agentpool.Options{Name: str("build")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("create pool without grant: %v", err)
		}
		if _, err := f.svc.AgentPools.CreateAgentPool(context.Background(), "acme", agentpool.Options{Name: str("build")}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("create pool anonymously: %v", err)
		}
		f.grant("runcred/orgs/acme/agent-pools", access.Create, access.List)
		p, err := f.svc.AgentPools.CreateAgentPool(ctx, "acme", agentpool.Options{Name: str("build")})
		if err != nil {
			t.Fatal(err)
		}
		// The grant is for acme: the same path in another org is not granted.
		if _, err := f.svc.AgentPools.CreateAgentPool(ctx, "other", agentpool.Options{Name: str("build")}); !fail.Is(err, fail.Denied) {
			t.Errorf("create pool in other org: %v", err)
		}
		foreign, err := f.svc.AgentPools.CreateAgentPool(as(root), "other", agentpool.Options{Name: str("build")})
		if err != nil {
			t.Fatal(err)
		}
		if l, total, err := f.svc.AgentPools.AgentPools(ctx, "acme", agentpool.Filter{}); err != nil || total != 1 || l[0].ID != p.ID {
			t.Errorf("list pools = %+v %d, %v", l, total, err)
		}
		if _, _, err := f.svc.AgentPools.AgentPools(ctx, "other", agentpool.Filter{}); !fail.Is(err, fail.Denied) {
			t.Errorf("list other org's pools: %v", err)
		}
		pool := "runcred/orgs/acme/agent-pools/" + p.ID
		for name, call := range map[string]func() error{
			"read": func() error { _, err := f.svc.AgentPools.AgentPool(ctx, p.ID); return err },
			"update": func() error {
				_, err := f.svc.AgentPools.UpdateAgentPool(ctx, p.ID, agentpool.Options{Name: str("x")})
				return err
			},
			"delete": func() error { return f.svc.AgentPools.DeleteAgentPool(ctx, p.ID) },
			"create token": func() error {
				_, err := f.svc.AgentPools.CreateAgentToken(ctx, p.ID, "d")
				return err
			},
			"list tokens": func() error { _, _, err := f.svc.AgentPools.AgentTokens(ctx, p.ID, resource.Page{}); return err },
		} {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without grant: %v", name, err)
			}
		}
		// A grant on one pool is not a grant on another org's pool.
		f.grant(pool, access.Read)
		f.grant(pool+"/tokens", access.Create, access.List)
		if _, err := f.svc.AgentPools.AgentPool(ctx, foreign.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("read other org's pool: %v", err)
		}
		if _, err := f.svc.AgentPools.CreateAgentToken(ctx, foreign.ID, "d"); !fail.Is(err, fail.Denied) {
			t.Errorf("token for other org's pool: %v", err)
		}
		tok, err := f.svc.AgentPools.CreateAgentToken(ctx, p.ID, "runner 1")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Token.Empty() || tok.Kind != apitoken.KindAgent || tok.OwnerID != p.ID || tok.CreatedBy.Kind != resource.WriterUser || tok.CreatedBy.ID != "acc-alice" {
			t.Errorf("agent token = %+v", tok)
		}
		if _, err := f.svc.AgentPools.CreateAgentToken(ctx, p.ID, "  "); !fail.Is(err, fail.Invalid) {
			t.Errorf("token without description: %v", err)
		}
		// Reading or deleting one token needs a grant on that token.
		if _, err := f.svc.APITokens.AuthToken(ctx, tok.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("read token without grant: %v", err)
		}
		if err := f.svc.APITokens.DeleteAuthToken(ctx, tok.ID); !fail.Is(err, fail.Denied) {
			t.Errorf("delete token without grant: %v", err)
		}
		if !live(f.tokens, tok.Token) {
			t.Fatal("a denied delete revoked the token")
		}
		f.grant(pool+"/tokens/"+tok.ID, access.Read, access.Delete)
		got, err := f.svc.APITokens.AuthToken(ctx, tok.ID)
		if err != nil || !got.Token.Empty() || got.Description != "runner 1" {
			t.Errorf("read token = %+v, %v", got, err)
		}
		if err := f.svc.APITokens.DeleteAuthToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if live(f.tokens, tok.Token) {
			t.Error("a deleted agent token still authenticates")
		}
		if err := f.svc.APITokens.DeleteAuthToken(ctx, tok.ID); !fail.Is(err, fail.NotFound) {
			t.Errorf("delete deleted token: %v", err)
		}

		// Without a token issuer, tokens are unsupported, plainly.
		if _, err := f.bare.AgentPools.CreateAgentToken(as(root), p.ID, "d"); !fail.Is(err, fail.Unsupported) || !strings.Contains(fail.Message(err), "no token issuer") {
			t.Errorf("token without issuer: %v", err)
		}

		// A workspace may not use another organization's pool.
		f.grant("runcred/orgs/acme/workspaces/app", access.Update)
		if _, err := f.svc.Workspaces.UpdateWorkspace(ctx, f.app.ID, workspace.Options{AgentPoolID: &foreign.ID}); !fail.Is(err, fail.Invalid) {
			t.Errorf("workspace into other org's pool: %v", err)
		}
		if w, err := f.svc.Workspaces.UpdateWorkspace(ctx, f.app.ID, workspace.Options{AgentPoolID: &p.ID}); err != nil || w.AgentPoolID != p.ID {
			t.Fatalf("workspace into pool = %+v, %v", w, err)
		}
		f.grant(pool, access.Delete)
		if err := f.svc.AgentPools.DeleteAgentPool(ctx, p.ID); !fail.Is(err, fail.Conflict) {
			t.Errorf("delete pool in use: %v", err)
		}
	})
}

// TestAgentTokenNeverStoredOrAudited: the token value reaches neither the
// database nor the audit log.
func TestAgentTokenNeverStoredOrAudited(t *testing.T) {
	path := storetest.SQLiteURL(t)
	f := tokenSetup(t, storetest.Open(t, path))
	p, err := f.svc.AgentPools.CreateAgentPool(as(root), "acme", agentpool.Options{Name: str("build")})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.svc.AgentPools.CreateAgentToken(as(root), p.ID, "d")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := f.svc.Teams.CreateTeam(as(root), "acme", team.Options{Name: str("ops")})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := f.svc.Teams.CreateTeamToken(as(root), tm.ID, team.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`SELECT body FROM audit_log`, `SELECT accessor || ' ' || COALESCE(description, '') FROM platform_tokens`} {
		rows, err := f.db.Query(context.Background(), q)
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
	f := tokenSetup(t, storetest.Open(t, storetest.SQLiteURL(t)))
	var toks []apitoken.Token
	for _, org := range []string{"acme", "other"} {
		p, err := f.svc.AgentPools.CreateAgentPool(as(root), org, agentpool.Options{Name: str("build")})
		if err != nil {
			t.Fatal(err)
		}
		at, err := f.svc.AgentPools.CreateAgentToken(as(root), p.ID, "d")
		if err != nil {
			t.Fatal(err)
		}
		tm, err := f.svc.Teams.CreateTeam(as(root), org, team.Options{Name: str("ops")})
		if err != nil {
			t.Fatal(err)
		}
		tt, err := f.svc.Teams.CreateTeamToken(as(root), tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, at, tt)
	}
	if err := f.svc.RevokeOrganizationTokens(as(root), "acme"); err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if live, want := live(f.tokens, tok.Token), i >= 2; live != want {
			t.Errorf("token %d (%s of %s) live = %v, want %v", i, tok.Kind, tok.Organization, live, want)
		}
	}
	if _, ok := f.tokens.Policy("agent-pool-" + toks[0].OwnerID); ok {
		t.Error("acme's pool policy remains")
	}
	if _, ok := f.tokens.Policy("team-" + toks[3].OwnerID); !ok {
		t.Error("other's team policy was deleted")
	}
}
