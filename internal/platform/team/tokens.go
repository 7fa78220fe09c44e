package team

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/resource"
)

// CreateToken issues a token for team id, carrying the team as its
// writer (resource.MetaTeamID) and holding the team's policy. The token is returned
// this once; runcred keeps only its accessor.
func (s *Service) CreateToken(ctx context.Context, id string, o TokenOptions) (apitoken.Token, error) {
	tm, err := s.db.team(ctx, id)
	if err != nil {
		return apitoken.Token{}, err
	}
	if err := s.base.Authorize(ctx, tokensPath(tm.Organization, tm.ID), access.Create); err != nil {
		return apitoken.Token{}, err
	}
	t := apitoken.Token{ID: resource.NewID("at"), Kind: apitoken.KindTeam, Organization: tm.Organization, OwnerID: tm.ID, Legacy: o.Description == nil}
	if o.Description != nil {
		if err := resource.ValidDescription(*o.Description); err != nil {
			return apitoken.Token{}, err
		}
		t.Description = *o.Description
	}
	if o.ExpiresAt != nil {
		if !o.ExpiresAt.After(s.base.Now()) {
			return apitoken.Token{}, fail.Invalidf("token expiry must be in the future")
		}
		t.ExpiresAt = *o.ExpiresAt
	}
	if s.tokens == nil {
		return apitoken.Token{}, apitoken.ErrNoTokens
	}
	if err := s.base.Record(ctx, "platform.team_token.create", apitoken.Audit(t)); err != nil {
		return apitoken.Token{}, err
	}
	if t.Legacy {
		// The new token replaces the old one, which goes first: for a moment
		// the team may have none, never two.
		if old, err := s.ledger.Legacy(ctx, tm.ID, tm.Name); err == nil {
			if err := s.ledger.Delete(ctx, old); err != nil {
				return apitoken.Token{}, err
			}
		} else if !fail.Is(err, fail.NotFound) {
			return apitoken.Token{}, err
		}
	}
	// The policy is written whenever the team's grants change; a team
	// from before a server without a token issuer gets it here.
	if err := s.Recompile(ctx, tm.Organization); err != nil {
		return apitoken.Token{}, err
	}
	return s.ledger.Issue(ctx, t, resource.TokenRequest{
		DisplayName: "team-" + tm.Name, Policies: []string{apitoken.TeamPolicy(tm.ID)},
		Meta: map[string]string{resource.MetaTeamID: tm.ID},
	})
}

// Token returns team id's legacy token, without the token.
func (s *Service) Token(ctx context.Context, id string) (apitoken.Token, error) {
	tm, err := s.db.team(ctx, id)
	if err != nil {
		return apitoken.Token{}, err
	}
	if err := s.base.Authorize(ctx, tokensPath(tm.Organization, tm.ID), access.Read); err != nil {
		return apitoken.Token{}, err
	}
	return s.ledger.Legacy(ctx, tm.ID, tm.Name)
}

// DeleteToken revokes team id's legacy token.
func (s *Service) DeleteToken(ctx context.Context, id string) error {
	tm, err := s.db.team(ctx, id)
	if err != nil {
		return err
	}
	if err := s.base.Authorize(ctx, tokensPath(tm.Organization, tm.ID), access.Delete); err != nil {
		return err
	}
	t, err := s.ledger.Legacy(ctx, tm.ID, tm.Name)
	if err != nil {
		return err
	}
	return s.ledger.Delete(ctx, t)
}

// Tokens lists the tokens of every team of org, oldest first.
func (s *Service) Tokens(ctx context.Context, org string, pg resource.Page) ([]apitoken.Token, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, resource.TeamsPath(org)); err != nil {
		return nil, 0, err
	}
	return s.ledger.OfKind(ctx, org, apitoken.KindTeam, pg)
}
