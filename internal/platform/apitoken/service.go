package apitoken

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Service reads and deletes single tokens by id for callers it authorizes,
// on the path of the token's pool or team.
type Service struct {
	base   resource.Deps
	ledger Ledger
}

// New returns a Service over ledger.
func New(base resource.Deps, ledger Ledger) *Service { return &Service{base: base, ledger: ledger} }

// tokenFor looks up token id and authorizes capability on it, on its
// pool's or team's path (the lookup goes first: the path holds its owner).
func (s *Service) tokenFor(ctx context.Context, id, capability string) (Token, error) {
	t, err := s.ledger.db.token(ctx, id)
	if err != nil {
		return Token{}, err
	}
	if err := s.base.Authorize(ctx, TokensPath(t.Kind, t.Organization, t.OwnerID)+"/"+t.ID, capability); err != nil {
		return Token{}, err
	}
	return t, nil
}

// AuthToken returns the agent or team token with id, without the token.
func (s *Service) AuthToken(ctx context.Context, id string) (Token, error) {
	return s.tokenFor(ctx, id, access.Read)
}

// DeleteAuthToken revokes the agent or team token with id.
func (s *Service) DeleteAuthToken(ctx context.Context, id string) error {
	t, err := s.tokenFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	return s.ledger.Delete(ctx, t)
}
