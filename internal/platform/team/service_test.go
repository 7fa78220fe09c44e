package team_test

import (
	"context"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	pt "github.com/runcred/runcred/internal/platform/platformtest"
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
		f := pt.NewApps(t, db)
		tm, err := f.Svc.Teams.Create(pt.As(pt.Root), "acme", team.Options{Name: new("ops")})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.Svc.Teams.CreateToken(pt.As(pt.Root), tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := f.Tokens.Issued(t, tok.Token)
		if c.Meta[resource.MetaTeamID] != tm.ID || len(c.Policies) != 1 || c.Policies[0] != "team-"+tm.ID {
			t.Fatalf("team token caller = %+v", c)
		}
		vs, err := f.Svc.Variables.CreateVariableSet(pt.As(pt.Root), "acme", variable.SetOptions{Name: new("shared")})
		if err != nil {
			t.Fatal(err)
		}
		f.Grants.Grant("runcred/orgs/acme/workspaces/app/vars/region", access.Create)
		f.Grants.Grant("runcred/orgs/acme/varsets/"+vs.ID+"/vars/region", access.Create)
		want := resource.Writer{Kind: resource.WriterTeam, ID: tm.ID, Name: "team-ops"}
		v, err := f.Svc.Variables.CreateVariable(access.WithCaller(context.Background(), c), f.App.ID,
			variable.Options{Key: new("region"), Value: new("eu"), Category: new("terraform")})
		if err != nil || v.WrittenBy != want {
			t.Errorf("workspace variable by team = %+v, %v; want %+v", v.WrittenBy, err, want)
		}
		sv, err := f.Svc.Variables.CreateSetVariable(access.WithCaller(context.Background(), c), vs.ID,
			variable.Options{Key: new("region"), Value: new("eu"), Category: new("terraform")})
		if err != nil || sv.WrittenBy != want {
			t.Errorf("set variable by team = %+v, %v; want %+v", sv.WrittenBy, err, want)
		}
		if read, err := f.Svc.Variables.Variable(pt.As(pt.Root), f.App.ID, v.ID); err != nil || read.WrittenBy != want {
			t.Errorf("stored provenance = %+v, %v", read.WrittenBy, err)
		}
	})
}

// TestTeamGrants: team and team token operations need grants on the
// team's path; the legacy token is replaced, never doubled.
func TestTeamGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := pt.NewApps(t, db)
		ctx := pt.As(pt.User)
		if _, err := f.Svc.Teams.Create(ctx, "acme", team.Options{Name: new("ops")}); !fail.Is(err, fail.Denied) {
			t.Fatalf("create team without grant: %v", err)
		}
		if _, err := f.Svc.Teams.Create(context.Background(), "acme", team.Options{Name: new("ops")}); !fail.Is(err, fail.Unauthenticated) {
			t.Fatalf("create team anonymously: %v", err)
		}
		f.Grants.Grant("runcred/orgs/acme/teams", access.Create)
		tm, err := f.Svc.Teams.Create(ctx, "acme", team.Options{Name: new("ops")})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := f.Svc.Teams.Create(pt.As(pt.Root), "other", team.Options{Name: new("ops")})
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"read":         func() error { _, err := f.Svc.Teams.Team(ctx, tm.ID); return err },
			"update":       func() error { _, err := f.Svc.Teams.Update(ctx, tm.ID, team.Options{Name: new("x")}); return err },
			"delete":       func() error { return f.Svc.Teams.Delete(ctx, tm.ID) },
			"create token": func() error { _, err := f.Svc.Teams.CreateToken(ctx, tm.ID, team.TokenOptions{}); return err },
			"read token":   func() error { _, err := f.Svc.Teams.Token(ctx, tm.ID); return err },
			"delete token": func() error { return f.Svc.Teams.DeleteToken(ctx, tm.ID) },
			"list tokens":  func() error { _, _, err := f.Svc.Teams.Tokens(ctx, "acme", resource.Page{}); return err },
			"list teams":   func() error { _, _, err := f.Svc.Teams.Teams(ctx, "acme", team.Filter{}); return err },
		} {
			if err := call(); !fail.Is(err, fail.Denied) {
				t.Errorf("%s without grant: %v", name, err)
			}
		}
		teamPath := "runcred/orgs/acme/teams/" + tm.ID
		f.Grants.Grant(teamPath+"/tokens", access.Create, access.Read, access.Delete)
		if _, err := f.Svc.Teams.CreateToken(ctx, foreign.ID, team.TokenOptions{}); !fail.Is(err, fail.Denied) {
			t.Errorf("token for other org's team: %v", err)
		}
		first, err := f.Svc.Teams.CreateToken(ctx, tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.Svc.Teams.CreateToken(ctx, tm.ID, team.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Tokens.Live(first.Token) || !f.Tokens.Live(second.Token) {
			t.Error("the new legacy token did not replace the old one")
		}
		if got, err := f.Svc.Teams.Token(ctx, tm.ID); err != nil || got.ID != second.ID {
			t.Errorf("legacy token = %+v, %v", got, err)
		}
		past := time.Now().Add(-time.Minute)
		if _, err := f.Svc.Teams.CreateToken(ctx, tm.ID, team.TokenOptions{Description: new("x"), ExpiresAt: &past}); !fail.Is(err, fail.Invalid) {
			t.Errorf("token expiring in the past: %v", err)
		}
		// Deleting a team needs delete on it; then its tokens are revoked.
		f.Grants.Grant(teamPath, access.Delete)
		if err := f.Svc.Teams.Delete(ctx, tm.ID); err != nil {
			t.Fatal(err)
		}
		if f.Tokens.Live(second.Token) {
			t.Error("a deleted team's token still authenticates")
		}
		if _, err := f.Bare.Teams.CreateToken(pt.As(pt.Root), foreign.ID, team.TokenOptions{}); !fail.Is(err, fail.Unsupported) {
			t.Errorf("team token without issuer: %v", err)
		}
	})
}
