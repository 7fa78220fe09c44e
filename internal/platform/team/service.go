package team

import (
	"context"
	"slices"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Service manages teams and their tokens. It is safe for concurrent use.
type Service struct {
	base   resource.Deps
	db     db
	orgs   organization.Directory
	ws     workspace.Directory
	ledger apitoken.Ledger
	tokens resource.Tokens // nil: no team token is ever issued
}

// New returns a Service.
func New(base resource.Deps, orgs organization.Directory, ws workspace.Directory, ledger apitoken.Ledger, tokens resource.Tokens) *Service {
	return &Service{base: base, db: db{base.DB}, orgs: orgs, ws: ws, ledger: ledger, tokens: tokens}
}

// organizationAccessPath is where changing a team's organization access
// is granted: the owners' power (HCP Terraform's manage-organization-access).
func organizationAccessPath(org, id string) string {
	return resource.TeamPath(org, id) + "/organization-access"
}

func tokensPath(org, id string) string { return apitoken.TokensPath(apitoken.KindTeam, org, id) }

// Create creates a team in org and, when the service can issue
// tokens, the broker policy its tokens will hold.
func (s *Service) Create(ctx context.Context, org string, o Options) (Team, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Team{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, resource.TeamsPath(org), access.Create); err != nil {
		return Team{}, err
	}
	if o.Name == nil {
		return Team{}, fail.Invalidf("team name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Team{}, err
	}
	t := Team{ID: resource.NewID("team"), Organization: org, Visibility: VisibilitySecret, AllowMemberTokenManagement: true, CreatedAt: store.Stored(s.base.Now())}
	if err := o.apply(&t); err != nil {
		return Team{}, err
	}
	if len(t.OrganizationAccess) > 0 {
		if err := s.base.Authorize(ctx, organizationAccessPath(org, t.ID), access.Update); err != nil {
			return Team{}, err
		}
	}
	if err := s.base.Record(ctx, "platform.team.create", map[string]any{"organization": org, "id": t.ID, "name": t.Name,
		"organization_access": t.OrganizationAccess}); err != nil {
		return Team{}, err
	}
	if err := s.db.insert(ctx, parent.ID, t); err != nil {
		return Team{}, err
	}
	return t, s.Recompile(ctx, org)
}

// teamFor looks team id up and authorizes capability on it (the lookup
// goes first: the path holds its organization).
func (s *Service) teamFor(ctx context.Context, id, capability string) (Team, error) {
	t, err := s.db.team(ctx, id)
	if err != nil {
		return Team{}, err
	}
	if err := s.base.Authorize(ctx, resource.TeamPath(t.Organization, t.ID), capability); err != nil {
		return Team{}, err
	}
	return t, nil
}

// Team returns team id.
func (s *Service) Team(ctx context.Context, id string) (Team, error) {
	return s.teamFor(ctx, id, access.Read)
}

// Teams lists org's teams by name, one page at a time, with the total count.
func (s *Service) Teams(ctx context.Context, org string, f Filter) ([]Team, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, resource.TeamsPath(org)); err != nil {
		return nil, 0, err
	}
	if len(f.Names) > resource.MaxPageSize {
		return nil, 0, fail.Invalidf("at most %d team names may be given", resource.MaxPageSize)
	}
	return s.db.list(ctx, org, f)
}

// Update renames team id or changes its visibility.
func (s *Service) Update(ctx context.Context, id string, o Options) (Team, error) {
	t, err := s.teamFor(ctx, id, access.Update)
	if err != nil {
		return Team{}, err
	}
	before := slices.Clone(t.OrganizationAccess)
	if err := o.apply(&t); err != nil {
		return Team{}, err
	}
	changed := !slices.Equal(before, t.OrganizationAccess)
	if changed {
		if err := s.base.Authorize(ctx, organizationAccessPath(t.Organization, t.ID), access.Update); err != nil {
			return Team{}, err
		}
	}
	if err := s.base.Record(ctx, "platform.team.update", map[string]any{"organization": t.Organization, "id": t.ID, "name": t.Name, "visibility": t.Visibility,
		"allow_member_token_management": t.AllowMemberTokenManagement, "organization_access": t.OrganizationAccess}); err != nil {
		return Team{}, err
	}
	if err := s.db.update(ctx, t); err != nil {
		return Team{}, err
	}
	if changed {
		return t, s.Recompile(ctx, t.Organization)
	}
	return t, nil
}

// Delete deletes team id, revoking its tokens and deleting their policy.
func (s *Service) Delete(ctx context.Context, id string) error {
	t, err := s.teamFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if t.Owners {
		return fail.Invalidf("the owners team cannot be deleted")
	}
	if err := s.base.Record(ctx, "platform.team.delete", map[string]any{"organization": t.Organization, "id": t.ID, "name": t.Name}); err != nil {
		return err
	}
	if err := s.ledger.RevokeOwner(ctx, t.ID); err != nil {
		return err
	}
	if s.tokens != nil {
		if err := s.tokens.DeletePolicy(ctx, apitoken.TeamPolicy(t.ID)); err != nil {
			return err
		}
	}
	return s.db.delete(ctx, t.ID)
}
