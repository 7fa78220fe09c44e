package platform

import (
	"context"

	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// SetVariablesFor exposes what w's variable sets contribute to the
// package's external tests.
func (s *Service) SetVariablesFor(ctx context.Context, w workspace.Workspace) ([]variable.RunVariable, error) {
	return variable.NewRunInputs(s.Variables).FromSets(ctx, w)
}

// RevokeOrganizationTokens exposes revokeOrganizationTokens likewise.
func (s *Service) RevokeOrganizationTokens(ctx context.Context, org string) error {
	return s.ledger.RevokeOrganizationTokens(ctx, org)
}
