package workspace

import (
	"context"
	"errors"
	"slices"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Run-token grants. Every phase of a run gets an API token (package run)
// that reads its own workspace's state and outputs, and the outputs of the
// workspaces that share theirs with it. A grant widens that: the run token
// may manage the workspaces and variables of a project (every workspace in
// it, now and later, and new ones created in it) or of one workspace. A
// manager workspace's tfe provider then needs no stored team token.

// PermissionManage is the one permission a grant gives.
const PermissionManage = "manage-workspaces-and-variables"

// MaxGrants bounds one workspace's grants.
const MaxGrants = 100

// Grant is one run-token grant: exactly one of ProjectID and WorkspaceID
// names its target.
type Grant struct {
	ProjectID   string
	WorkspaceID string
	Permission  string
}

// GrantsPath is where changing run-token grants is allowed: at the
// organization, since a grant reaches other workspaces than the one it is
// set on. No team policy holds it, so a team that may write a workspace
// cannot widen what that workspace's runs may do.
func GrantsPath(org string) string { return resource.OrgPath(org) + "/run-token-grants" }

// RunTokenGrants returns what workspace id's run tokens are granted.
func (s *Service) RunTokenGrants(ctx context.Context, id string) ([]Grant, error) {
	w, err := s.dir.For(ctx, id, access.Read)
	if err != nil {
		return nil, err
	}
	return s.db.grants(ctx, w.ID)
}

// SetRunTokenGrants replaces the run-token grants of workspace id.
func (s *Service) SetRunTokenGrants(ctx context.Context, id string, grants []Grant) ([]Grant, error) {
	w, err := s.dir.For(ctx, id, access.Read)
	if err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, GrantsPath(w.Organization), access.Update); err != nil {
		return nil, err
	}
	if len(grants) > MaxGrants {
		return nil, fail.Invalidf("grants: at most %d may be given", MaxGrants)
	}
	var out []Grant
	for i, g := range grants {
		if g.Permission != PermissionManage {
			return nil, fail.Invalidf("grants[%d].permission must be %q", i, PermissionManage)
		}
		switch {
		case (g.ProjectID == "") == (g.WorkspaceID == ""):
			return nil, fail.Invalidf("grants[%d] must name exactly one of project-id and workspace-id", i)
		case g.ProjectID != "":
			p, err := s.orgs.Project(ctx, g.ProjectID)
			if err != nil || p.Organization != w.Organization {
				return nil, fail.Invalidf("grants[%d].project-id: %q is not a project of organization %q", i, fail.Clip(g.ProjectID), w.Organization)
			}
		default:
			t, err := s.dir.Workspace(ctx, g.WorkspaceID)
			if err != nil || t.Organization != w.Organization {
				return nil, fail.Invalidf("grants[%d].workspace-id: %q is not a workspace of organization %q", i, fail.Clip(g.WorkspaceID), w.Organization)
			}
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	audit := make([]map[string]string, 0, len(out))
	for _, g := range out {
		audit = append(audit, map[string]string{"project_id": g.ProjectID, "workspace_id": g.WorkspaceID, "permission": g.Permission})
	}
	if err := s.base.Record(ctx, "platform.workspace.run_token_grants", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "id": w.ID, "grants": audit,
	}); err != nil {
		return nil, err
	}
	if err := s.db.setGrants(ctx, w.ID, out, store.Stored(s.base.Now())); err != nil {
		return nil, err
	}
	if err := s.changed(ctx, w.Organization); err != nil {
		return nil, err
	}
	return s.db.grants(ctx, w.ID)
}

// Watch registers fn to be called after a change that may change what a
// run token of org's workspaces reaches: a workspace created, renamed,
// moved to another project or deleted, or a workspace's grants or sharing
// changed; teams' policies name workspaces too. The change has happened
// when fn runs: an error fn returns reaches the caller, and every fn runs.
func (s *Service) Watch(fn func(ctx context.Context, org string) error) {
	s.watchers = append(s.watchers, fn)
}

func (s *Service) changed(ctx context.Context, org string) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, fn := range s.watchers {
		errs = append(errs, fn(ctx, org))
	}
	return errors.Join(errs...)
}

// RunTokenScope is what a run token of a workspace reaches besides its own
// workspace, by name, as its ACL names them.
type RunTokenScope struct {
	// SharedFrom are the workspaces whose outputs it may read: those that
	// list it as a remote state consumer or share with the whole
	// organization.
	SharedFrom []string
	// Managed are the workspaces whose settings and variables it may
	// manage: those granted by name and every workspace of a granted
	// project.
	Managed []string
	// Projects are the granted projects, where it may create workspaces.
	Projects []string
}

// RunTokenScope returns what w's run tokens reach, without authorizing:
// the run lifecycle asks when it issues a phase's run token.
func (d Directory) RunTokenScope(ctx context.Context, w Workspace) (RunTokenScope, error) {
	return d.db.runTokenScope(ctx, w.ID)
}

// ConsumerChange is what a change of remote state consumers does.
type ConsumerChange int

const (
	ConsumersAdd ConsumerChange = iota
	ConsumersRemove
	ConsumersReplace
)

// RemoteStateConsumers lists the workspaces workspace id shares its
// outputs with, by name.
func (s *Service) RemoteStateConsumers(ctx context.Context, id string, pg resource.Page) ([]Workspace, int, error) {
	w, err := s.dir.For(ctx, id, access.Read)
	if err != nil {
		return nil, 0, err
	}
	return s.db.consumers(ctx, w.ID, pg)
}

// ChangeRemoteStateConsumers adds, removes or replaces the workspaces
// workspace id shares its outputs with: a setting of the workspace, so it
// needs update on it. Each consumer must be another workspace of its
// organization.
func (s *Service) ChangeRemoteStateConsumers(ctx context.Context, id string, ids []string, op ConsumerChange) error {
	w, err := s.dir.For(ctx, id, access.Update)
	if err != nil {
		return err
	}
	if len(ids) > resource.MaxPageSize {
		return fail.Invalidf("at most %d remote state consumers may be given at once", resource.MaxPageSize)
	}
	for i, cid := range ids {
		c, err := s.dir.Workspace(ctx, cid)
		if err != nil || c.Organization != w.Organization || c.ID == w.ID {
			return fail.Invalidf("data[%d].id: %q is not another workspace of organization %q", i, fail.Clip(cid), w.Organization)
		}
	}
	if err := s.base.Record(ctx, "platform.workspace.remote_state_consumers", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "id": w.ID, "change": [...]string{"add", "remove", "replace"}[op], "consumers": ids,
	}); err != nil {
		return err
	}
	if err := s.db.changeConsumers(ctx, w.ID, ids, op); err != nil {
		return err
	}
	return s.changed(ctx, w.Organization)
}
