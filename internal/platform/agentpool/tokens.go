package agentpool

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/resource"
)

// CreateAgentToken issues a token for the agents of pool poolID. The
// token is returned this once; runcred keeps only its accessor.
func (s *Service) CreateAgentToken(ctx context.Context, poolID, description string) (apitoken.Token, error) {
	p, err := s.db.pool(ctx, poolID)
	if err != nil {
		return apitoken.Token{}, err
	}
	if err := s.base.Authorize(ctx, apitoken.TokensPath(apitoken.KindAgent, p.Organization, p.ID), access.Create); err != nil {
		return apitoken.Token{}, err
	}
	if strings.TrimSpace(description) == "" {
		return apitoken.Token{}, fail.Invalidf("agent token description is required")
	}
	if err := resource.ValidDescription(description); err != nil {
		return apitoken.Token{}, err
	}
	if s.tokens == nil {
		return apitoken.Token{}, apitoken.ErrNoTokens
	}
	t := apitoken.Token{ID: resource.NewID("at"), Kind: apitoken.KindAgent, Organization: p.Organization, OwnerID: p.ID, Description: description}
	if err := s.base.Record(ctx, "platform.agent_token.create", apitoken.Audit(t)); err != nil {
		return apitoken.Token{}, err
	}
	// Written if missing: the pool may predate the service's token issuer,
	// or its policy may have been removed through the broker's API; an
	// admin's edit of it stands.
	if err := s.tokens.EnsurePolicy(ctx, apitoken.PoolPolicy(p.ID), policyBody(p.ID)); err != nil {
		return apitoken.Token{}, err
	}
	return s.ledger.Issue(ctx, t, resource.TokenRequest{
		DisplayName: "agent-" + p.Name, Policies: []string{apitoken.PoolPolicy(p.ID)},
		Meta: map[string]string{resource.MetaAgentPoolID: p.ID},
	})
}

// AgentTokens lists the agent tokens of pool poolID, oldest first.
func (s *Service) AgentTokens(ctx context.Context, poolID string, pg resource.Page) ([]apitoken.Token, int, error) {
	p, err := s.db.pool(ctx, poolID)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, apitoken.TokensPath(apitoken.KindAgent, p.Organization, p.ID), access.List); err != nil {
		return nil, 0, err
	}
	return s.ledger.OfOwner(ctx, p.ID, pg)
}
