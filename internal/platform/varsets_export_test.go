package platform

import "context"

// SetVariablesFor exposes setVariables to the package's external tests.
func (s *Service) SetVariablesFor(ctx context.Context, w Workspace) ([]RunVariable, error) {
	return s.setVariables(ctx, w)
}

// RevokeOrganizationTokens exposes revokeOrganizationTokens likewise.
func (s *Service) RevokeOrganizationTokens(ctx context.Context, org string) error {
	return s.ledger.RevokeOrganizationTokens(ctx, org)
}
