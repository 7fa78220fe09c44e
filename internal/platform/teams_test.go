package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/team"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestTeamTokenProvenance: a write made with a team token is recorded as
// the team's, on workspace and set variables alike.
func TestTeamTokenProvenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := tokenSetup(t, db)
		tm, err := f.svc.Teams.CreateTeam(as(root), "acme", team.Options{Name: str("ops")})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.svc.Teams.CreateTeamToken(as(root), tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := issued(t, f.tokens, tok.Token)
		if c.Meta[resource.MetaTeamID] != tm.ID || len(c.Policies) != 1 || c.Policies[0] != "team-"+tm.ID {
			t.Fatalf("team token caller = %+v", c)
		}
		vs, err := f.svc.Variables.CreateVariableSet(as(root), "acme", variable.VariableSetOptions{Name: str("shared")})
		if err != nil {
			t.Fatal(err)
		}
		f.grant("runcred/orgs/acme/workspaces/app/vars/region", access.Create)
		f.grant("runcred/orgs/acme/varsets/"+vs.ID+"/vars/region", access.Create)
		want := resource.Writer{Kind: resource.WriterTeam, ID: tm.ID, Name: "team-ops"}
		v, err := f.svc.Variables.CreateVariable(access.WithCaller(context.Background(), c), f.app.ID,
			variable.VariableOptions{Key: str("region"), Value: str("eu"), Category: str("terraform")})
		if err != nil || v.WrittenBy != want {
			t.Errorf("workspace variable by team = %+v, %v; want %+v", v.WrittenBy, err, want)
		}
		sv, err := f.svc.Variables.CreateSetVariable(access.WithCaller(context.Background(), c), vs.ID,
			variable.VariableOptions{Key: str("region"), Value: str("eu"), Category: str("terraform")})
		if err != nil || sv.WrittenBy != want {
			t.Errorf("set variable by team = %+v, %v; want %+v", sv.WrittenBy, err, want)
		}
		if read, err := f.svc.Variables.Variable(as(root), f.app.ID, v.ID); err != nil || read.WrittenBy != want {
			t.Errorf("stored provenance = %+v, %v", read.WrittenBy, err)
		}
	})
}

// TestTeamGrants: team and team token operations need grants on the
// team's path; the legacy token is replaced, never doubled.
func TestTeamGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := tokenSetup(t, db)
		ctx := as(user)
		if _, err := f.svc.Teams.CreateTeam(ctx, "acme", team.Options{Name: str("ops")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("create team without grant: %v", err)
		}
		if _, err := f.svc.Teams.CreateTeam(context.Background(), "acme", team.Options{Name: str("ops")}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("create team anonymously: %v", err)
		}
		f.grant("runcred/orgs/acme/teams", access.Create)
		tm, err := f.svc.Teams.CreateTeam(ctx, "acme", team.Options{Name: str("ops")})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := f.svc.Teams.CreateTeam(as(root), "other", team.Options{Name: str("ops")})
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"read":         func() error { _, err := f.svc.Teams.Team(ctx, tm.ID); return err },
			"update":       func() error { _, err := f.svc.Teams.UpdateTeam(ctx, tm.ID, team.Options{Name: str("x")}); return err },
			"delete":       func() error { return f.svc.Teams.DeleteTeam(ctx, tm.ID) },
			"create token": func() error { _, err := f.svc.Teams.CreateTeamToken(ctx, tm.ID, team.TokenOptions{}); return err },
			"read token":   func() error { _, err := f.svc.Teams.TeamToken(ctx, tm.ID); return err },
			"delete token": func() error { return f.svc.Teams.DeleteTeamToken(ctx, tm.ID) },
			"list tokens":  func() error { _, _, err := f.svc.Teams.TeamTokens(ctx, "acme", resource.Page{}); return err },
			"list teams":   func() error { _, _, err := f.svc.Teams.Teams(ctx, "acme", team.Filter{}); return err },
		} {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without grant: %v", name, err)
			}
		}
		teamPath := "runcred/orgs/acme/teams/" + tm.ID
		f.grant(teamPath+"/tokens", access.Create, access.Read, access.Delete)
		if _, err := f.svc.Teams.CreateTeamToken(ctx, foreign.ID, team.TokenOptions{}); !fail.Is(err, fail.Denied) {
			t.Errorf("token for other org's team: %v", err)
		}
		first, err := f.svc.Teams.CreateTeamToken(ctx, tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.svc.Teams.CreateTeamToken(ctx, tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if live(f.tokens, first.Token) || !live(f.tokens, second.Token) {
			t.Error("the new legacy token did not replace the old one")
		}
		if got, err := f.svc.Teams.TeamToken(ctx, tm.ID); err != nil || got.ID != second.ID {
			t.Errorf("legacy token = %+v, %v", got, err)
		}
		past := time.Now().Add(-time.Minute)
		if _, err := f.svc.Teams.CreateTeamToken(ctx, tm.ID, team.TokenOptions{Description: str("x"), ExpiresAt: &past}); !fail.Is(err, fail.Invalid) {
			t.Errorf("token expiring in the past: %v", err)
		}
		// Deleting a team needs delete on it; then its tokens are revoked.
		f.grant(teamPath, access.Delete)
		if err := f.svc.Teams.DeleteTeam(ctx, tm.ID); err != nil {
			t.Fatal(err)
		}
		if live(f.tokens, second.Token) {
			t.Error("a deleted team's token still authenticates")
		}
		if _, err := f.bare.Teams.CreateTeamToken(as(root), foreign.ID, team.TokenOptions{}); !fail.Is(err, fail.Unsupported) {
			t.Errorf("team token without issuer: %v", err)
		}
	})
}
