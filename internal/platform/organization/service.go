package organization

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// TokenRevoker revokes every token issued within an organization (its
// teams' and its agent pools'), which deleting it must do first.
type TokenRevoker interface {
	RevokeOrganizationTokens(ctx context.Context, org string) error
}

// Service manages organizations and projects. It is safe for concurrent use.
type Service struct {
	base    resource.Deps
	db      db
	tokens  TokenRevoker
	onAlter func(ctx context.Context, org string) error
}

// OnChange has f called after a project of an organization is renamed or
// deleted (teams' policies name projects).
func (s *Service) OnChange(f func(ctx context.Context, org string) error) { s.onAlter = f }

func (s *Service) changed(ctx context.Context, org string) error {
	if s.onAlter == nil {
		return nil
	}
	return s.onAlter(ctx, org)
}

// New returns a Service; tokens is asked to revoke an organization's tokens
// before it is deleted.
func New(base resource.Deps, tokens TokenRevoker) *Service {
	return &Service{base: base, db: db{base.DB}, tokens: tokens}
}

// Create creates an organization and its default project.
func (s *Service) Create(ctx context.Context, o Options) (Organization, error) {
	if err := resource.ValidOrganizationName(o.Name); err != nil {
		return Organization{}, err
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(o.Name), access.Create); err != nil {
		return Organization{}, err
	}
	if err := validEmail(o.Email); err != nil {
		return Organization{}, err
	}
	mv := o.ManagedVariables
	switch mv {
	case "":
		mv = ManagedPolicy
	case ManagedPolicy, ManagedLocked:
	default:
		return Organization{}, fail.Invalidf("runcred-managed-variables must be %q or %q", ManagedPolicy, ManagedLocked)
	}
	now := s.base.Now()
	org := Organization{ID: resource.NewID("org"), Name: o.Name, Email: o.Email, DefaultProjectID: resource.NewID("prj"),
		ManagedVariables: mv, OwnersTeamID: resource.NewID("team"), CreatedAt: store.Stored(now)}
	if err := s.base.Record(ctx, "platform.organization.create", map[string]any{"organization": org.Name, "id": org.ID, "owners_team_id": org.OwnersTeamID}); err != nil {
		return Organization{}, err
	}
	if err := s.db.insertOrganization(ctx, org); err != nil {
		return Organization{}, err
	}
	return org, s.changed(ctx, org.Name)
}

// Organization returns the organization named name.
func (s *Service) Organization(ctx context.Context, name string) (Organization, error) {
	if err := resource.ValidOrganizationName(name); err != nil {
		return Organization{}, resource.OrgNotFound(name)
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(name), access.Read); err != nil {
		return Organization{}, err
	}
	return s.db.organization(ctx, name)
}

// Organizations lists organizations by name, one page at a time, with the total count.
func (s *Service) Organizations(ctx context.Context, p resource.Page) ([]Organization, int, error) {
	if err := s.base.Authorize(ctx, resource.OrgsPath(), access.List); err != nil {
		return nil, 0, err
	}
	return s.db.organizations(ctx, p.Normalize())
}

// Delete deletes an organization with all its projects,
// workspaces and variables.
func (s *Service) Delete(ctx context.Context, name string) error {
	if err := resource.ValidOrganizationName(name); err != nil {
		return resource.OrgNotFound(name)
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(name), access.Delete); err != nil {
		return err
	}
	if _, err := s.db.organization(ctx, name); err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.organization.delete", map[string]any{"organization": name}); err != nil {
		return err
	}
	// Its agent and team tokens go first: a team policy names the
	// organization, and a new one of the same name must not inherit them.
	if err := s.tokens.RevokeOrganizationTokens(ctx, name); err != nil {
		return err
	}
	return s.db.deleteOrganization(ctx, name)
}

// CreateProject creates a project in org.
func (s *Service) CreateProject(ctx context.Context, org string, o ProjectOptions) (Project, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Project{}, resource.OrgNotFound(org)
	}
	if err := resource.ValidProjectName(o.Name); err != nil {
		return Project{}, err
	}
	if err := s.base.Authorize(ctx, resource.ProjectPath(org, o.Name), access.Create); err != nil {
		return Project{}, err
	}
	if err := resource.ValidDescription(o.Description); err != nil {
		return Project{}, err
	}
	parent, err := s.db.organization(ctx, org)
	if err != nil {
		return Project{}, err
	}
	p := Project{ID: resource.NewID("prj"), Organization: org, Name: o.Name, Description: o.Description, CreatedAt: store.Stored(s.base.Now())}
	if err := s.base.Record(ctx, "platform.project.create", map[string]any{"organization": org, "project": p.Name, "id": p.ID}); err != nil {
		return Project{}, err
	}
	if err := s.db.insertProject(ctx, parent.ID, p); err != nil {
		return Project{}, err
	}
	return p, nil
}

// Project returns the project with id.
func (s *Service) Project(ctx context.Context, id string) (Project, error) {
	// The lookup goes first: the path to authorize on holds the names.
	p, err := s.db.project(ctx, id)
	if err != nil {
		return Project{}, err
	}
	if err := s.base.Authorize(ctx, resource.ProjectPath(p.Organization, p.Name), access.Read); err != nil {
		return Project{}, err
	}
	return p, nil
}

// Projects lists org's projects by name, one page at a time, with the total count.
func (s *Service) Projects(ctx context.Context, org string, pg resource.Page) ([]Project, int, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return nil, 0, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, resource.ProjectsPath(org), access.List); err != nil {
		return nil, 0, err
	}
	parent, err := s.db.organization(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	return s.db.projects(ctx, parent.ID, pg.Normalize())
}
