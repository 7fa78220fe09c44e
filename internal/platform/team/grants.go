package team

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Grants are asked on these paths: managing a workspace's team access
// needs the admin permission set on it (or the organization's), a
// project's the project's teams permission.
func workspaceTeamAccessPath(org, ws string) string {
	return resource.WorkspacePath(org, ws) + "/team-access"
}

func projectTeamAccessPath(org, project string) string {
	return resource.ProjectPath(org, project) + "/team-access"
}

// compileMu serializes this node's recompilations, so a slower one never
// writes an older body over a newer one.
var compileMu sync.Mutex

// Recompile rewrites the broker policy of every team of org whose
// compiled body changed: after a grant, a team's organization access, or
// the organization's workspaces and projects change (names and
// membership are in the paths). The caller has authorized the change.
func (s *Service) Recompile(ctx context.Context, org string) error {
	compileMu.Lock()
	defer compileMu.Unlock()
	teams, hashes, err := s.db.teamsOf(ctx, org)
	if err != nil || len(teams) == 0 {
		return err
	}
	g := grants{}
	if g.workspaces, g.projects, g.ws, g.prj, err = s.db.orgGrants(ctx, org); err != nil {
		return err
	}
	for _, t := range teams {
		if t.Owners {
			g.ownersID = t.ID
		}
	}
	all, allPrj := g.ws, g.prj
	for i, t := range teams {
		g.team, g.ws, g.prj = t, nil, nil
		for _, a := range all {
			if a.TeamID == t.ID {
				g.ws = append(g.ws, a)
			}
		}
		for _, a := range allPrj {
			if a.TeamID == t.ID {
				g.prj = append(g.prj, a)
			}
		}
		body := compile(g)
		sum := sha256.Sum256([]byte(body))
		h := hex.EncodeToString(sum[:])
		if h == hashes[i] || s.tokens == nil {
			continue
		}
		if err := s.tokens.PutPolicy(ctx, apitoken.TeamPolicy(t.ID), body); err != nil {
			return err
		}
		if err := s.db.setPolicyHash(ctx, t.ID, h); err != nil {
			return err
		}
	}
	return nil
}

// RecompileAll recompiles the policies of every organization's teams; the
// server runs it at start, so a policy never compiled from grants (a team
// from before them) or compiled by an older mapping is rewritten.
func (s *Service) RecompileAll(ctx context.Context) error {
	orgs, err := s.db.organizationsWithTeams(ctx)
	if err != nil {
		return err
	}
	for _, org := range orgs {
		if err := s.Recompile(ctx, org); err != nil {
			return err
		}
	}
	return nil
}

// grantTeam looks up the team a grant is for: it must be a team of org.
func (s *Service) grantTeam(ctx context.Context, org, id string) (Team, error) {
	t, err := s.db.team(ctx, id)
	if err != nil || t.Organization != org {
		return Team{}, fail.Invalidf("team %q is not a team of organization %q", fail.Clip(id), org)
	}
	return t, nil
}

// CreateWorkspaceAccess grants team teamID access to workspace wsID.
func (s *Service) CreateWorkspaceAccess(ctx context.Context, teamID, wsID string, o WorkspaceAccessOptions) (WorkspaceAccess, error) {
	w, err := s.ws.For(ctx, wsID, access.Read)
	if err != nil {
		return WorkspaceAccess{}, err
	}
	if err := s.base.Authorize(ctx, workspaceTeamAccessPath(w.Organization, w.Name), access.Create); err != nil {
		return WorkspaceAccess{}, err
	}
	t, err := s.grantTeam(ctx, w.Organization, teamID)
	if err != nil {
		return WorkspaceAccess{}, err
	}
	a := WorkspaceAccess{ID: resource.NewID("tws"), TeamID: t.ID, WorkspaceID: w.ID, CreatedAt: store.Stored(s.base.Now())}
	if err := o.apply(&a); err != nil {
		return WorkspaceAccess{}, err
	}
	if err := s.base.Record(ctx, "platform.team_workspace_access.create", wsAccessAudit(w, t, a)); err != nil {
		return WorkspaceAccess{}, err
	}
	if err := s.db.insertWorkspaceAccess(ctx, a); err != nil {
		return WorkspaceAccess{}, err
	}
	return a, s.Recompile(ctx, w.Organization)
}

func wsAccessAudit(w workspace.Workspace, t Team, a WorkspaceAccess) map[string]any {
	return map[string]any{"organization": w.Organization, "id": a.ID, "team_id": t.ID, "team": t.Name, "workspace_id": w.ID,
		"workspace": w.Name, "access": a.Access, "runs": a.Runs, "variables": a.Variables, "state_versions": a.StateVersions,
		"sentinel_mocks": a.SentinelMocks, "workspace_locking": a.WorkspaceLocking, "run_tasks": a.RunTasks, "policy_overrides": a.PolicyOverrides}
}

// workspaceAccessFor looks grant id up and authorizes capability on its
// workspace's team access.
func (s *Service) workspaceAccessFor(ctx context.Context, id, capability string) (WorkspaceAccess, workspace.Workspace, error) {
	a, err := s.db.workspaceAccess(ctx, id)
	if err != nil {
		return WorkspaceAccess{}, workspace.Workspace{}, err
	}
	w, err := s.ws.For(ctx, a.WorkspaceID, access.Read)
	if err != nil {
		return WorkspaceAccess{}, workspace.Workspace{}, err
	}
	if err := s.base.Authorize(ctx, workspaceTeamAccessPath(w.Organization, w.Name), capability); err != nil {
		return WorkspaceAccess{}, workspace.Workspace{}, err
	}
	return a, w, nil
}

// WorkspaceAccess returns grant id.
func (s *Service) WorkspaceAccess(ctx context.Context, id string) (WorkspaceAccess, error) {
	a, _, err := s.workspaceAccessFor(ctx, id, access.Read)
	return a, err
}

// WorkspaceAccesses lists the grants on workspace wsID, oldest first.
func (s *Service) WorkspaceAccesses(ctx context.Context, wsID string, pg resource.Page) ([]WorkspaceAccess, int, error) {
	w, err := s.ws.For(ctx, wsID, access.Read)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, workspaceTeamAccessPath(w.Organization, w.Name), access.List); err != nil {
		return nil, 0, err
	}
	return s.db.workspaceAccesses(ctx, w.ID, pg)
}

// UpdateWorkspaceAccess changes grant id.
func (s *Service) UpdateWorkspaceAccess(ctx context.Context, id string, o WorkspaceAccessOptions) (WorkspaceAccess, error) {
	a, w, err := s.workspaceAccessFor(ctx, id, access.Update)
	if err != nil {
		return WorkspaceAccess{}, err
	}
	if err := o.apply(&a); err != nil {
		return WorkspaceAccess{}, err
	}
	t, err := s.db.team(ctx, a.TeamID)
	if err != nil {
		return WorkspaceAccess{}, err
	}
	if err := s.base.Record(ctx, "platform.team_workspace_access.update", wsAccessAudit(w, t, a)); err != nil {
		return WorkspaceAccess{}, err
	}
	if err := s.db.updateWorkspaceAccess(ctx, a); err != nil {
		return WorkspaceAccess{}, err
	}
	return a, s.Recompile(ctx, w.Organization)
}

// DeleteWorkspaceAccess removes grant id.
func (s *Service) DeleteWorkspaceAccess(ctx context.Context, id string) error {
	a, w, err := s.workspaceAccessFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.team_workspace_access.delete", map[string]any{"organization": w.Organization, "id": a.ID,
		"team_id": a.TeamID, "workspace_id": w.ID, "workspace": w.Name}); err != nil {
		return err
	}
	if err := s.db.deleteWorkspaceAccess(ctx, a.ID); err != nil {
		return err
	}
	return s.Recompile(ctx, w.Organization)
}

// CreateProjectAccess grants team teamID access to project projectID and
// every workspace in it.
func (s *Service) CreateProjectAccess(ctx context.Context, teamID, projectID string, o ProjectAccessOptions) (ProjectAccess, error) {
	p, err := s.orgs.Project(ctx, projectID)
	if err != nil {
		return ProjectAccess{}, err
	}
	if err := s.base.Authorize(ctx, projectTeamAccessPath(p.Organization, p.Name), access.Create); err != nil {
		return ProjectAccess{}, err
	}
	t, err := s.grantTeam(ctx, p.Organization, teamID)
	if err != nil {
		return ProjectAccess{}, err
	}
	a := ProjectAccess{ID: resource.NewID("tprj"), TeamID: t.ID, ProjectID: p.ID, CreatedAt: store.Stored(s.base.Now())}
	if err := o.apply(&a); err != nil {
		return ProjectAccess{}, err
	}
	if err := s.base.Record(ctx, "platform.team_project_access.create", prjAccessAudit(p.Organization, p.Name, t.Name, a)); err != nil {
		return ProjectAccess{}, err
	}
	if err := s.db.insertProjectAccess(ctx, a); err != nil {
		return ProjectAccess{}, err
	}
	return a, s.Recompile(ctx, p.Organization)
}

func prjAccessAudit(org, project, team string, a ProjectAccess) map[string]any {
	w := a.Workspace
	return map[string]any{"organization": org, "id": a.ID, "team_id": a.TeamID, "team": team, "project_id": a.ProjectID, "project": project,
		"access": a.Access, "settings": a.Project.Settings, "teams": a.Project.Teams, "variable_sets": a.Project.VariableSets,
		"runs": w.Runs, "variables": w.Variables, "state_versions": w.StateVersions, "sentinel_mocks": w.SentinelMocks,
		"create": w.Create, "locking": w.WorkspaceLocking, "move": w.Move, "delete": w.Delete, "run_tasks": w.RunTasks,
		"policy_overrides": w.PolicyOverrides}
}

func (s *Service) projectAccessFor(ctx context.Context, id, capability string) (ProjectAccess, string, string, error) {
	a, err := s.db.projectAccess(ctx, id)
	if err != nil {
		return ProjectAccess{}, "", "", err
	}
	p, err := s.orgs.Project(ctx, a.ProjectID)
	if err != nil {
		return ProjectAccess{}, "", "", err
	}
	if err := s.base.Authorize(ctx, projectTeamAccessPath(p.Organization, p.Name), capability); err != nil {
		return ProjectAccess{}, "", "", err
	}
	return a, p.Organization, p.Name, nil
}

// ProjectAccess returns grant id.
func (s *Service) ProjectAccess(ctx context.Context, id string) (ProjectAccess, error) {
	a, _, _, err := s.projectAccessFor(ctx, id, access.Read)
	return a, err
}

// ProjectAccesses lists the grants on project projectID, oldest first.
func (s *Service) ProjectAccesses(ctx context.Context, projectID string, pg resource.Page) ([]ProjectAccess, int, error) {
	p, err := s.orgs.Project(ctx, projectID)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, projectTeamAccessPath(p.Organization, p.Name), access.List); err != nil {
		return nil, 0, err
	}
	return s.db.projectAccesses(ctx, p.ID, pg)
}

// UpdateProjectAccess changes grant id.
func (s *Service) UpdateProjectAccess(ctx context.Context, id string, o ProjectAccessOptions) (ProjectAccess, error) {
	a, org, project, err := s.projectAccessFor(ctx, id, access.Update)
	if err != nil {
		return ProjectAccess{}, err
	}
	if err := o.apply(&a); err != nil {
		return ProjectAccess{}, err
	}
	t, err := s.db.team(ctx, a.TeamID)
	if err != nil {
		return ProjectAccess{}, err
	}
	if err := s.base.Record(ctx, "platform.team_project_access.update", prjAccessAudit(org, project, t.Name, a)); err != nil {
		return ProjectAccess{}, err
	}
	if err := s.db.updateProjectAccess(ctx, a); err != nil {
		return ProjectAccess{}, err
	}
	return a, s.Recompile(ctx, org)
}

// DeleteProjectAccess removes grant id.
func (s *Service) DeleteProjectAccess(ctx context.Context, id string) error {
	a, org, project, err := s.projectAccessFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.team_project_access.delete", map[string]any{"organization": org, "id": a.ID,
		"team_id": a.TeamID, "project_id": a.ProjectID, "project": project}); err != nil {
		return err
	}
	if err := s.db.deleteProjectAccess(ctx, a.ID); err != nil {
		return err
	}
	return s.Recompile(ctx, org)
}
