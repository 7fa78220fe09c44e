package platform

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// WorkspaceOptions are the settable fields of a workspace; nil leaves a
// field as it is (or at its default on create).
type WorkspaceOptions struct {
	Name             *string
	Description      *string
	AutoApply        *bool
	ExecutionMode    *string // only ExecutionAgent
	WorkingDirectory *string
	TerraformVersion *string
	AgentPoolID      *string
	ProjectID        *string // default: the organization's default project
}

// apply validates o and writes it over w.
func (o WorkspaceOptions) apply(w *Workspace) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&w.Name, o.Name)
	set(&w.Description, o.Description)
	set(&w.ExecutionMode, o.ExecutionMode)
	set(&w.WorkingDirectory, o.WorkingDirectory)
	set(&w.TerraformVersion, o.TerraformVersion)
	set(&w.AgentPoolID, o.AgentPoolID)
	set(&w.ProjectID, o.ProjectID)
	if o.AutoApply != nil {
		w.AutoApply = *o.AutoApply
	}
	if w.ExecutionMode == "" {
		w.ExecutionMode = ExecutionAgent
	}
	for _, err := range []error{
		resource.ValidWorkspaceName(w.Name), resource.ValidDescription(w.Description), validExecutionMode(w.ExecutionMode),
		validWorkingDirectory(w.WorkingDirectory), validTerraformVersion(w.TerraformVersion), resource.ValidAgentPoolID(w.AgentPoolID),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// CreateWorkspace creates a workspace in org. Placing a workspace in a
// project needs update on the project too: the project's name is part of
// every token the workspace's runs get, so cloud trust policies rely on it.
func (s *Service) CreateWorkspace(ctx context.Context, org string, o WorkspaceOptions) (Workspace, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Workspace{}, fail.NotFoundf("organization %q not found", resource.Clip(org))
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
	if err := s.authorizeProject(ctx, org, w.ProjectID); err != nil {
		return Workspace{}, err
	}
	if err := s.pools.CheckWorkspace(ctx, w.Organization, w.AgentPoolID, w.ID, w.Name); err != nil {
		return Workspace{}, err
	}
	now := s.base.Now()
	w.ID, w.CreatedAt, w.UpdatedAt = resource.NewID("ws"), resource.FromNanos(resource.Nanos(now)), resource.FromNanos(resource.Nanos(now))
	if err := s.base.Record(ctx, "platform.workspace.create", map[string]any{"organization": org, "workspace": w.Name, "id": w.ID, "project_id": w.ProjectID}); err != nil {
		return Workspace{}, err
	}
	_, err = s.base.DB.Exec(ctx, `INSERT INTO workspaces (id, org_id, project_id, name, description, auto_apply, execution_mode,
		working_directory, terraform_version, agent_pool_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, parent.ID, w.ProjectID, w.Name, w.Description, resource.B2I(w.AutoApply), w.ExecutionMode,
		w.WorkingDirectory, w.TerraformVersion, w.AgentPoolID, resource.Nanos(now), resource.Nanos(now))
	if err != nil {
		return Workspace{}, resource.Conflict(err, "workspace %q already exists in organization %q", w.Name, org)
	}
	return w, nil
}

// authorizeProject checks that project id is in org and that the caller may
// put workspaces in it.
func (s *Service) authorizeProject(ctx context.Context, org, id string) error {
	p, err := s.orgs.Project(ctx, id)
	if err != nil || p.Organization != org {
		return fail.Invalidf("project %q is not a project of organization %q", resource.Clip(id), org)
	}
	return s.base.Authorize(ctx, resource.ProjectPath(org, p.Name), access.Update)
}

const workspaceColumns = `w.id, o.name, w.project_id, w.name, w.description, w.auto_apply, w.execution_mode,
	w.working_directory, w.terraform_version, w.agent_pool_id, w.created_at, w.updated_at, w.locked_by, w.lock_reason`

const workspaceFrom = ` FROM workspaces w JOIN organizations o ON o.id = w.org_id `

func scanWorkspace(row interface{ Scan(...any) error }) (Workspace, error) {
	var w Workspace
	var auto, created, updated int64
	err := row.Scan(&w.ID, &w.Organization, &w.ProjectID, &w.Name, &w.Description, &auto, &w.ExecutionMode,
		&w.WorkingDirectory, &w.TerraformVersion, &w.AgentPoolID, &created, &updated, &w.LockedBy, &w.LockReason)
	if err != nil {
		return Workspace{}, err
	}
	w.AutoApply, w.CreatedAt, w.UpdatedAt = auto != 0, resource.FromNanos(created), resource.FromNanos(updated)
	return w, nil
}

// Workspace returns the workspace named name in org.
func (s *Service) Workspace(ctx context.Context, org, name string) (Workspace, error) {
	if resource.ValidOrganizationName(org) != nil || resource.ValidWorkspaceName(name) != nil {
		return Workspace{}, fail.NotFoundf("workspace %q not found in organization %q", resource.Clip(name), resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, resource.WorkspacePath(org, name), access.Read); err != nil {
		return Workspace{}, err
	}
	w, err := scanWorkspace(s.base.DB.QueryRow(ctx, `SELECT `+workspaceColumns+workspaceFrom+`WHERE o.name = ? AND w.name = ?`, org, name))
	return w, resource.NotFound(err, "workspace %q not found in organization %q", name, org)
}

// WorkspaceByID returns the workspace with id.
func (s *Service) WorkspaceByID(ctx context.Context, id string) (Workspace, error) {
	return s.workspaceFor(ctx, id, access.Read)
}

// workspaceFor looks up workspace id and authorizes capability on it. The
// lookup must come first to learn the names the path is made of; a denial
// and a missing workspace look the same to API clients (both 404).
func (s *Service) workspaceFor(ctx context.Context, id, capability string) (Workspace, error) {
	w, err := s.workspace(ctx, id)
	if err != nil {
		return Workspace{}, err
	}
	if err := s.base.Authorize(ctx, resource.WorkspacePath(w.Organization, w.Name), capability); err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// workspace looks workspace id up without authorizing: callers authorize
// on the names it returns.
func (s *Service) workspace(ctx context.Context, id string) (Workspace, error) {
	if !resource.ValidID("ws", id) {
		return Workspace{}, fail.NotFoundf("workspace %q not found", resource.Clip(id))
	}
	w, err := scanWorkspace(s.base.DB.QueryRow(ctx, `SELECT `+workspaceColumns+workspaceFrom+`WHERE w.id = ?`, id))
	return w, resource.NotFound(err, "workspace %q not found", id)
}

// WorkspaceFilter narrows a workspace list.
type WorkspaceFilter struct {
	Search    string // part of the name
	ProjectID string
	Page      resource.Page
}

// Workspaces lists org's workspaces by name, one page at a time, with the total count.
func (s *Service) Workspaces(ctx context.Context, org string, f WorkspaceFilter) ([]Workspace, int, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return nil, 0, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, resource.WorkspacesPath(org), access.List); err != nil {
		return nil, 0, err
	}
	if _, err := s.orgs.Organization(ctx, org); err != nil {
		return nil, 0, err
	}
	where, args := `WHERE o.name = ?`, []any{org}
	if f.Search != "" {
		// Escape LIKE's wildcards: '_' is legal in names.
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Search)
		where, args = where+` AND w.name LIKE ? ESCAPE '\'`, append(args, "%"+esc+"%")
	}
	if f.ProjectID != "" {
		where, args = where+` AND w.project_id = ?`, append(args, f.ProjectID)
	}
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*)`+workspaceFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := s.base.DB.Query(ctx, `SELECT `+workspaceColumns+workspaceFrom+where+` ORDER BY w.name LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanWorkspace)
	return out, total, err
}

// UpdateWorkspace changes workspace id. Renaming needs create on the new
// name, and moving to another project update on that project, because both
// change the names in the workspace's tokens.
func (s *Service) UpdateWorkspace(ctx context.Context, id string, o WorkspaceOptions) (Workspace, error) {
	old, err := s.workspaceFor(ctx, id, access.Update)
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
		if err := s.authorizeProject(ctx, w.Organization, w.ProjectID); err != nil {
			return Workspace{}, err
		}
	}
	if w.AgentPoolID != old.AgentPoolID {
		if err := s.pools.CheckWorkspace(ctx, w.Organization, w.AgentPoolID, w.ID, w.Name); err != nil {
			return Workspace{}, err
		}
	}
	now := s.base.Now()
	w.UpdatedAt = resource.FromNanos(resource.Nanos(now))
	if err := s.base.Record(ctx, "platform.workspace.update", map[string]any{
		"organization": w.Organization, "workspace": old.Name, "id": w.ID, "name": w.Name, "project_id": w.ProjectID,
		"auto_apply": w.AutoApply, "working_directory": w.WorkingDirectory, "terraform_version": w.TerraformVersion, "agent_pool_id": w.AgentPoolID,
	}); err != nil {
		return Workspace{}, err
	}
	res, err := s.base.DB.Exec(ctx, `UPDATE workspaces SET project_id = ?, name = ?, description = ?, auto_apply = ?, execution_mode = ?,
		working_directory = ?, terraform_version = ?, agent_pool_id = ?, updated_at = ? WHERE id = ?`,
		w.ProjectID, w.Name, w.Description, resource.B2I(w.AutoApply), w.ExecutionMode,
		w.WorkingDirectory, w.TerraformVersion, w.AgentPoolID, resource.Nanos(now), w.ID)
	if err := resource.Affected(res, resource.Conflict(err, "workspace %q already exists in organization %q", w.Name, w.Organization), "workspace %q not found", id); err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// DeleteWorkspace deletes workspace id and its variables.
func (s *Service) DeleteWorkspace(ctx context.Context, id string) error {
	w, err := s.workspaceFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.workspace.delete", map[string]any{"organization": w.Organization, "workspace": w.Name, "id": w.ID}); err != nil {
		return err
	}
	res, err := s.base.DB.Exec(ctx, `DELETE FROM workspaces WHERE id = ?`, id)
	return resource.Affected(res, err, "workspace %q not found", id)
}

// poolWorkspaces tells the agent pool domain which organization a
// workspace belongs to.
type poolWorkspaces struct{ s *Service }

func (p poolWorkspaces) WorkspaceOrganization(ctx context.Context, id string) (string, error) {
	w, err := p.s.workspace(ctx, id)
	return w.Organization, err
}
