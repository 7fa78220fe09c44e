package guard

import (
	"context"
	"slices"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Path is where an organization's allowlists are authorized: reading them
// is granted with the organization (teams read it), changing them only to
// its owners (an update grant on this path, which no team policy holds).
func Path(org string) string { return resource.OrgPath(org) + "/credential-guard" }

// ProjectPath is a project's.
func ProjectPath(org, project string) string {
	return resource.ProjectPath(org, project) + "/credential-guard"
}

// Service manages the allowlists and checks phases against them. It is
// safe for concurrent use.
type Service struct {
	base resource.Deps
	db   db
	orgs organization.Directory
	own  []string // runcred's own broker addresses, normalized
}

// New returns a Service. own are the addresses runcred's own broker is
// reached at (its public URL, its listener), always allowed as Vault
// addresses; malformed ones are ignored.
func New(base resource.Deps, orgs organization.Directory, own ...string) *Service {
	s := &Service{base: base, db: db{base.DB}, orgs: orgs}
	for _, a := range own {
		if n, err := NormalizeAddress(a); err == nil {
			s.own = append(s.own, n)
		}
	}
	return s
}

// Organization returns org's allowlist.
func (s *Service) Organization(ctx context.Context, org string) (Allowlist, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Allowlist{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, Path(org), access.Read); err != nil {
		return Allowlist{}, err
	}
	o, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Allowlist{}, err
	}
	return s.db.get(ctx, o.ID)
}

// SetOrganization replaces org's allowlist; only an owner may.
func (s *Service) SetOrganization(ctx context.Context, org string, a Allowlist) (Allowlist, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Allowlist{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, Path(org), access.Update); err != nil {
		return Allowlist{}, err
	}
	o, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Allowlist{}, err
	}
	return s.set(ctx, o.ID, o.ID, nil, map[string]any{"organization": org}, a)
}

// Project returns project id's own allowlist (not its organization's).
func (s *Service) Project(ctx context.Context, id string) (Allowlist, error) {
	p, err := s.orgs.Project(ctx, id)
	if err != nil {
		return Allowlist{}, err
	}
	if err := s.base.Authorize(ctx, ProjectPath(p.Organization, p.Name), access.Read); err != nil {
		return Allowlist{}, err
	}
	return s.db.get(ctx, p.ID)
}

// SetProject replaces project id's allowlist; only an owner of its
// organization may.
func (s *Service) SetProject(ctx context.Context, id string, a Allowlist) (Allowlist, error) {
	p, err := s.orgs.Project(ctx, id)
	if err != nil {
		return Allowlist{}, err
	}
	if err := s.base.Authorize(ctx, ProjectPath(p.Organization, p.Name), access.Update); err != nil {
		return Allowlist{}, err
	}
	o, err := s.orgs.Organization(ctx, p.Organization)
	if err != nil {
		return Allowlist{}, err
	}
	return s.set(ctx, p.ID, o.ID, &p.ID, map[string]any{"organization": p.Organization, "project": p.Name, "project_id": p.ID}, a)
}

func (s *Service) set(ctx context.Context, scope, orgID string, projectID *string, audit map[string]any, a Allowlist) (Allowlist, error) {
	if err := a.Validate(); err != nil {
		return Allowlist{}, err
	}
	w, err := resource.WriterOf(ctx)
	if err != nil {
		return Allowlist{}, err
	}
	a.UpdatedAt, a.UpdatedBy = store.Stored(s.base.Now()), w
	audit[FieldAudiences], audit[FieldVaultAddresses], audit[FieldVaultAuthPaths] = a.Audiences, a.VaultAddresses, a.VaultAuthPaths
	audit[FieldVaultRoles], audit[FieldAWSRoleARNs] = a.VaultRoles, a.AWSRoleARNs
	if err := s.base.Record(ctx, "platform.credential_guard.update", audit); err != nil {
		return Allowlist{}, err
	}
	if err := s.db.put(ctx, scope, orgID, projectID, a); err != nil {
		return Allowlist{}, err
	}
	return a, nil
}

// BuiltIn is what every phase may use without an allowlist entry: the
// contract's default audiences and runcred's own broker addresses.
func (s *Service) BuiltIn() (audiences, vaultAddresses []string) {
	return slices.Clone(DefaultAudiences), slices.Clone(s.own)
}
