package platform

import (
	"context"

	"github.com/runcred/runcred/internal/platform/workspace"
)

// SetVariablesFor exposes setVariables to the package's external tests.
func (s *Service) SetVariablesFor(ctx context.Context, w workspace.Workspace) ([]RunVariable, error) {
	return s.setVariables(ctx, w)
}

// RevokeOrganizationTokens exposes revokeOrganizationTokens likewise.
func (s *Service) RevokeOrganizationTokens(ctx context.Context, org string) error {
	return s.ledger.RevokeOrganizationTokens(ctx, org)
}
