package api_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestGoTFETeams drives teams and team tokens with go-tfe.
func TestGoTFETeams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client(t, "root-token")
		ctx := ctxT(t)
		mustOrg(t, ctx, c, "acme")

		ops, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("ops")})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ops.ID, "team-") || ops.Name != "ops" || ops.Visibility != "secret" {
			t.Fatalf("created team = %+v", ops)
		}
		// A new team reaches no workspace until it is granted one.
		body, ok := e.tokens.Policy("team-" + ops.ID)
		if !ok || !strings.Contains(body, `path "runcred/orgs/acme" { capabilities = ["read"] }`) || strings.Contains(body, "workspaces/") {
			t.Errorf("a new team's policy:\n%s", body)
		}
		ws, err := c.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.TeamAccess.Add(ctx, tfe.TeamAccessAddOptions{Access: tfe.Access(tfe.AccessWrite), Team: ops, Workspace: ws}); err != nil {
			t.Fatal(err)
		}
		body, _ = e.tokens.Policy("team-" + ops.ID)
		for _, want := range []string{
			`path "runcred/orgs/acme/workspaces/app/vars/*" { capabilities = ["create", "read", "update", "delete", "list"] }`,
			`path "runcred/orgs/acme/workspaces/app/run-variables" { capabilities = ["deny"] }`,
			`path "runcred/orgs/acme/workspaces/app/agent" { capabilities = ["deny"] }`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("team policy lacks %s:\n%s", want, body)
			}
		}
		if _, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("dev"), Visibility: tfe.String("organization")}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			opts tfe.TeamCreateOptions
			want string
		}{
			{tfe.TeamCreateOptions{Name: tfe.String("ops")}, "already exists"},
			{tfe.TeamCreateOptions{Name: tfe.String("has space")}, "may hold only"},
			{tfe.TeamCreateOptions{Name: tfe.String("x"), Visibility: tfe.String("public")}, "visibility"},
		} {
			if _, err := c.Teams.Create(ctx, "acme", tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create %+v: %v, want %q", tc.opts, err, tc.want)
			}
		}
		l, err := c.Teams.List(ctx, "acme", nil)
		if err != nil || len(l.Items) != 3 || l.Items[0].Name != "dev" || l.Items[1].Name != "ops" || l.Items[2].Name != "owners" {
			t.Fatalf("list teams = %+v, %v", l, err)
		}
		if l, err := c.Teams.List(ctx, "acme", &tfe.TeamListOptions{Names: []string{"ops", "nope"}}); err != nil || len(l.Items) != 1 || l.Items[0].ID != ops.ID {
			t.Fatalf("list teams by name = %+v, %v", l, err)
		}
		upd, err := c.Teams.Update(ctx, ops.ID, tfe.TeamUpdateOptions{Name: tfe.String("operators"), Visibility: tfe.String("organization")})
		if err != nil || upd.Name != "operators" || upd.Visibility != "organization" {
			t.Fatalf("update team = %+v, %v", upd, err)
		}
		if got, err := c.Teams.Read(ctx, ops.ID); err != nil || got.Name != "operators" {
			t.Fatalf("read team = %+v, %v", got, err)
		}

		// The legacy single token: a new one replaces the old.
		first, err := c.TeamTokens.Create(ctx, ops.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(first.ID, "at-") || first.Token == "" || first.Description != nil || first.Team == nil || first.Team.ID != ops.ID {
			t.Fatalf("team token = %+v", first)
		}
		caller, ok := e.tokens.Caller(first.Token)
		if !ok || caller.Meta[resource.MetaTeamID] != ops.ID || len(caller.Policies) != 1 || caller.Policies[0] != "team-"+ops.ID {
			t.Fatalf("issued team token = %+v, %v", caller, ok)
		}
		second, err := c.TeamTokens.Create(ctx, ops.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := e.tokens.Caller(first.Token); ok {
			t.Error("the replaced team token still authenticates")
		}
		if got, err := c.TeamTokens.Read(ctx, ops.ID); err != nil || got.ID != second.ID || got.Token != "" {
			t.Fatalf("read team token = %+v, %v", got, err)
		}

		// Described tokens, several per team, optionally expiring.
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		ci, err := c.TeamTokens.CreateWithOptions(ctx, ops.ID, tfe.TeamTokenCreateOptions{Description: tfe.String("ci"), ExpiredAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		if ci.Description == nil || *ci.Description != "ci" || !ci.ExpiredAt.Equal(exp) || ci.Token == "" {
			t.Fatalf("described team token = %+v", ci)
		}
		past := time.Now().Add(-time.Hour)
		if _, err := c.TeamTokens.CreateWithOptions(ctx, ops.ID, tfe.TeamTokenCreateOptions{Description: tfe.String("old"), ExpiredAt: &past}); err == nil ||
			!strings.Contains(err.Error(), "in the future") {
			t.Errorf("expired token: %v", err)
		}
		if got, err := c.TeamTokens.Read(ctx, ops.ID); err != nil || got.ID != second.ID {
			t.Errorf("a described token replaced the legacy one: %+v, %v", got, err)
		}
		tl, err := c.TeamTokens.List(ctx, "acme", nil)
		if err != nil || len(tl.Items) != 2 || tl.TotalCount != 2 {
			t.Fatalf("list team tokens = %+v, %v", tl, err)
		}
		if got, err := c.TeamTokens.ReadByID(ctx, ci.ID); err != nil || got.Token != "" || got.Description == nil || *got.Description != "ci" {
			t.Fatalf("read token by id = %+v, %v", got, err)
		}
		if err := c.TeamTokens.DeleteByID(ctx, ci.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.tokens.Caller(ci.Token); ok {
			t.Error("a deleted team token still authenticates")
		}
		if err := c.TeamTokens.Delete(ctx, ops.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TeamTokens.Read(ctx, ops.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted team token: %v", err)
		}
		if _, ok := e.tokens.Caller(second.Token); ok {
			t.Error("a deleted legacy team token still authenticates")
		}
		if err := c.TeamTokens.Delete(ctx, ops.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("delete missing team token: %v", err)
		}

		// Deleting a team revokes its tokens and drops its policy.
		last, err := c.TeamTokens.Create(ctx, ops.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Teams.Delete(ctx, ops.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Teams.Read(ctx, ops.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read deleted team: %v", err)
		}
		if _, ok := e.tokens.Caller(last.Token); ok {
			t.Error("a deleted team's token still authenticates")
		}
		if _, ok := e.tokens.Policy("team-" + ops.ID); ok {
			t.Error("a deleted team's policy remains")
		}
		if _, err := c.TeamTokens.ReadByID(ctx, last.ID); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("read token of deleted team: %v", err)
		}
	})
}

// TestTeamDenials: anonymous callers get 401, denied callers (a user
// without grants, a team's own token under RootOnly) 404.
func TestTeamDenials(t *testing.T) {
	e := newEnv(t, storetest.Open(t, storetest.SQLiteURL(t)))
	ctx := ctxT(t)
	root := e.client(t, "root-token")
	mustOrg(t, ctx, root, "acme")
	tm, err := root.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("ops")})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := root.TeamTokens.Create(ctx, tm.ID)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(c *tfe.Client) error{
		"list teams": func(c *tfe.Client) error { _, err := c.Teams.List(ctx, "acme", nil); return err },
		"create team": func(c *tfe.Client) error {
			_, err := c.Teams.Create(ctx, "acme", tfe.TeamCreateOptions{Name: tfe.String("x")})
			return err
		},
		"read team": func(c *tfe.Client) error { _, err := c.Teams.Read(ctx, tm.ID); return err },
		"update team": func(c *tfe.Client) error {
			_, err := c.Teams.Update(ctx, tm.ID, tfe.TeamUpdateOptions{Name: tfe.String("x")})
			return err
		},
		"delete team":       func(c *tfe.Client) error { return c.Teams.Delete(ctx, tm.ID) },
		"create team token": func(c *tfe.Client) error { _, err := c.TeamTokens.Create(ctx, tm.ID); return err },
		"read team token":   func(c *tfe.Client) error { _, err := c.TeamTokens.Read(ctx, tm.ID); return err },
		"read token by id":  func(c *tfe.Client) error { _, err := c.TeamTokens.ReadByID(ctx, tok.ID); return err },
		"list team tokens":  func(c *tfe.Client) error { _, err := c.TeamTokens.List(ctx, "acme", nil); return err },
		"delete team token": func(c *tfe.Client) error { return c.TeamTokens.Delete(ctx, tm.ID) },
		"delete by id":      func(c *tfe.Client) error { return c.TeamTokens.DeleteByID(ctx, tok.ID) },
	}
	anon, user, team := e.client(t, "unknown-token"), e.client(t, "user-token"), e.client(t, tok.Token)
	for name, call := range calls {
		if err := call(anon); !errors.Is(err, tfe.ErrUnauthorized) {
			t.Errorf("anonymous %s: %v, want ErrUnauthorized", name, err)
		}
		if err := call(user); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("denied %s: %v, want ErrResourceNotFound", name, err)
		}
		if err := call(team); !errors.Is(err, tfe.ErrResourceNotFound) {
			t.Errorf("team token %s: %v, want ErrResourceNotFound", name, err)
		}
	}
	if got, err := root.TeamTokens.Read(ctx, tm.ID); err != nil || got.ID != tok.ID {
		t.Errorf("team token after denied calls = %+v, %v", got, err)
	}
	if _, ok := e.tokens.Caller(tok.Token); !ok {
		t.Error("a denied call revoked the team token")
	}
}
