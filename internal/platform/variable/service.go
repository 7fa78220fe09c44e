package variable

import (
	"context"

	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// Service manages workspace variables and variable sets with their
// variables. It is safe for concurrent use.
type Service struct {
	base          resource.Deps
	db            db
	orgs          organization.Directory
	organizations *organization.Service // for reads it authorizes
	ws            workspace.Directory
}

// New returns a Service.
func New(base resource.Deps, organizations *organization.Service, orgs organization.Directory, ws workspace.Directory) *Service {
	return &Service{base: base, db: db{base.DB}, orgs: orgs, organizations: organizations, ws: ws}
}

// RunInputs reads a workspace's variables, values decrypted, for a job the
// run lifecycle has authorized (its job token checked against its run):
// it authorizes nothing itself.
type RunInputs struct{ s *Service }

// NewRunInputs returns the RunInputs of s.
func NewRunInputs(s *Service) RunInputs { return RunInputs{s: s} }

// Variables returns every variable a run of w receives: the workspace's,
// with its variable sets filling in what it does not set.
func (r RunInputs) Variables(ctx context.Context, w workspace.Workspace) ([]RunVariable, error) {
	return r.s.runVariables(ctx, w)
}

// FromSets returns only what w's variable sets contribute.
func (r RunInputs) FromSets(ctx context.Context, w workspace.Workspace) ([]RunVariable, error) {
	return r.s.setVariables(ctx, w)
}
