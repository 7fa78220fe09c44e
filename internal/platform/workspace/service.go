package workspace

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Pools checks that a workspace may use an agent pool (package agentpool).
type Pools interface {
	CheckWorkspace(ctx context.Context, org, poolID, wsID, wsName string) error
}

// Service manages workspaces. It is safe for concurrent use.
type Service struct {
	base  resource.Deps
	db    db
	dir   Directory
	orgs  organization.Directory
	pools Pools

	watchers []func(ctx context.Context, org string) error // see Watch
}

// New returns a Service.
func New(base resource.Deps, orgs organization.Directory, pools Pools) *Service {
	return &Service{base: base, db: db{base.DB}, dir: NewDirectory(base, orgs), orgs: orgs, pools: pools}
}

// Create creates a workspace in org. Placing a workspace in a
// project needs update on the project too: the project's name is part of
// every token the workspace's runs get, so cloud trust policies rely on it.
func (s *Service) Create(ctx context.Context, org string, o Options) (Workspace, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Workspace{}, resource.OrgNotFound(org)
	}
	if o.Name == nil {
		return Workspace{}, fail.Invalidf("workspace name is required")
	}
	if err := resource.ValidWorkspaceName(*o.Name); err != nil {
		return Workspace{}, err
	}
	if err := s.base.Authorize(ctx, resource.WorkspacePath(org, *o.Name), access.Create); err != nil {
		return Workspace{}, err
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Workspace{}, err
	}
	w := Workspace{Organization: org, ProjectID: parent.DefaultProjectID}
	if err := o.apply(&w); err != nil {
		return Workspace{}, err
	}
	if err := s.dir.AuthorizeProject(ctx, org, w.ProjectID); err != nil {
		return Workspace{}, err
	}
	if err := s.pools.CheckWorkspace(ctx, w.Organization, w.AgentPoolID, w.ID, w.Name); err != nil {
		return Workspace{}, err
	}
	now := store.Stored(s.base.Now())
	w.ID, w.CreatedAt, w.UpdatedAt = resource.NewID("ws"), now, now
	if err := s.base.Record(ctx, "platform.workspace.create", map[string]any{"organization": org, "workspace": w.Name, "id": w.ID, "project_id": w.ProjectID}); err != nil {
		return Workspace{}, err
	}
	if err := s.db.insert(ctx, parent.ID, w); err != nil {
		return Workspace{}, err
	}
	return w, s.changed(ctx, org)
}

// Workspace returns the workspace named name in org.
func (s *Service) Workspace(ctx context.Context, org, name string) (Workspace, error) {
	if resource.ValidOrganizationName(org) != nil || resource.ValidWorkspaceName(name) != nil {
		return Workspace{}, fail.NotFoundf("workspace %q not found in organization %q", fail.Clip(name), fail.Clip(org))
	}
	if err := s.base.Authorize(ctx, resource.WorkspacePath(org, name), access.Read); err != nil {
		return Workspace{}, err
	}
	return s.db.byName(ctx, org, name)
}

// WorkspaceByID returns the workspace with id.
func (s *Service) WorkspaceByID(ctx context.Context, id string) (Workspace, error) {
	return s.dir.For(ctx, id, access.Read)
}

// Workspaces lists org's workspaces by name, one page at a time, with the total count.
func (s *Service) Workspaces(ctx context.Context, org string, f Filter) ([]Workspace, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, resource.WorkspacesPath(org)); err != nil {
		return nil, 0, err
	}
	// The list holds only the workspaces the caller may read, as in HCP
	// Terraform, where a team sees the workspaces it was granted.
	all, err := s.db.names(ctx, org)
	if err != nil {
		return nil, 0, err
	}
	readable := make([]string, 0, len(all))
	for _, n := range all {
		if s.base.Authorize(ctx, resource.WorkspacePath(org, n[1]), access.Read) == nil {
			readable = append(readable, n[0])
		}
	}
	if len(readable) < len(all) {
		f.only = readable
	}
	return s.db.list(ctx, org, f)
}

// Update changes workspace id. Renaming needs create on the new
// name, and moving to another project update on that project, because both
// change the names in the workspace's tokens.
func (s *Service) Update(ctx context.Context, id string, o Options) (Workspace, error) {
	old, err := s.dir.For(ctx, id, access.Update)
	if err != nil {
		return Workspace{}, err
	}
	w := old
	if err := o.apply(&w); err != nil {
		return Workspace{}, err
	}
	if w.Name != old.Name {
		if err := s.base.Authorize(ctx, resource.WorkspacePath(w.Organization, w.Name), access.Create); err != nil {
			return Workspace{}, err
		}
	}
	if w.ProjectID != old.ProjectID {
		if err := s.dir.AuthorizeProject(ctx, w.Organization, w.ProjectID); err != nil {
			return Workspace{}, err
		}
	}
	if w.AgentPoolID != old.AgentPoolID {
		if err := s.pools.CheckWorkspace(ctx, w.Organization, w.AgentPoolID, w.ID, w.Name); err != nil {
			return Workspace{}, err
		}
	}
	w.UpdatedAt = store.Stored(s.base.Now())
	if err := s.base.Record(ctx, "platform.workspace.update", map[string]any{
		"organization": w.Organization, "workspace": old.Name, "id": w.ID, "name": w.Name, "project_id": w.ProjectID,
		"auto_apply": w.AutoApply, "working_directory": w.WorkingDirectory, "terraform_version": w.TerraformVersion, "agent_pool_id": w.AgentPoolID,
		"global_remote_state": w.GlobalRemoteState,
	}); err != nil {
		return Workspace{}, err
	}
	if err := s.db.update(ctx, w); err != nil {
		return Workspace{}, err
	}
	if w.Name != old.Name || w.ProjectID != old.ProjectID || w.GlobalRemoteState != old.GlobalRemoteState {
		return w, s.changed(ctx, w.Organization)
	}
	return w, nil
}

// Delete deletes workspace id and its variables.
func (s *Service) Delete(ctx context.Context, id string) error {
	w, err := s.dir.For(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.workspace.delete", map[string]any{"organization": w.Organization, "workspace": w.Name, "id": w.ID}); err != nil {
		return err
	}
	if err := s.db.delete(ctx, id); err != nil {
		return err
	}
	return s.changed(ctx, w.Organization)
}
