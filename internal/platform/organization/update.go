package organization

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Update changes organization name's settable fields. The name is its id
// in every API path and authorization path, so it cannot change.
func (s *Service) Update(ctx context.Context, name string, o Options) (Organization, error) {
	if err := resource.ValidOrganizationName(name); err != nil {
		return Organization{}, resource.OrgNotFound(name)
	}
	if err := s.base.Authorize(ctx, resource.OrgPath(name), access.Update); err != nil {
		return Organization{}, err
	}
	org, err := s.db.organization(ctx, name)
	if err != nil {
		return Organization{}, err
	}
	if o.Name != "" && o.Name != name {
		return Organization{}, fail.Invalidf("an organization cannot be renamed")
	}
	if o.Email != "" {
		if err := validEmail(o.Email); err != nil {
			return Organization{}, err
		}
		org.Email = o.Email
	}
	if o.ManagedVariables != "" {
		if o.ManagedVariables != ManagedPolicy && o.ManagedVariables != ManagedLocked {
			return Organization{}, fail.Invalidf("runcred-managed-variables must be %q or %q", ManagedPolicy, ManagedLocked)
		}
		org.ManagedVariables = o.ManagedVariables
	}
	if err := s.base.Record(ctx, "platform.organization.update", map[string]any{"organization": name, "email": org.Email, "managed_variables": org.ManagedVariables}); err != nil {
		return Organization{}, err
	}
	if err := s.db.updateOrganization(ctx, org); err != nil {
		return Organization{}, err
	}
	return org, nil
}

// UpdateProject renames project id or changes its description. A new name
// needs create on it, as creating a project of that name would.
func (s *Service) UpdateProject(ctx context.Context, id string, o ProjectUpdate) (Project, error) {
	p, err := s.db.project(ctx, id)
	if err != nil {
		return Project{}, err
	}
	if err := s.base.Authorize(ctx, resource.ProjectPath(p.Organization, p.Name), access.Update); err != nil {
		return Project{}, err
	}
	old := p.Name
	if o.Name != nil && *o.Name != p.Name {
		if err := resource.ValidProjectName(*o.Name); err != nil {
			return Project{}, err
		}
		if err := s.base.Authorize(ctx, resource.ProjectPath(p.Organization, *o.Name), access.Create); err != nil {
			return Project{}, err
		}
		p.Name = *o.Name
	}
	if o.Description != nil {
		if err := resource.ValidDescription(*o.Description); err != nil {
			return Project{}, err
		}
		p.Description = *o.Description
	}
	if err := s.base.Record(ctx, "platform.project.update", map[string]any{
		"organization": p.Organization, "project": old, "id": p.ID, "name": p.Name,
	}); err != nil {
		return Project{}, err
	}
	if err := s.db.updateProject(ctx, p); err != nil {
		return Project{}, err
	}
	if p.Name != old {
		return p, s.changed(ctx, p.Organization)
	}
	return p, nil
}

// DeleteProject deletes project id. The default project cannot be deleted,
// nor one that still holds workspaces (HCP Terraform refuses both too):
// deleting would take the workspaces, their state and variables with it.
func (s *Service) DeleteProject(ctx context.Context, id string) error {
	p, err := s.db.project(ctx, id)
	if err != nil {
		return err
	}
	if err := s.base.Authorize(ctx, resource.ProjectPath(p.Organization, p.Name), access.Delete); err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.project.delete", map[string]any{"organization": p.Organization, "project": p.Name, "id": p.ID}); err != nil {
		return err
	}
	if err := s.db.deleteProject(ctx, p); err != nil {
		return err
	}
	return s.changed(ctx, p.Organization)
}
