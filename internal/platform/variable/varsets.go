package variable

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Set is a named group of variables that applies to every
// workspace of its organization (Global), or to the workspaces and the
// projects' workspaces it is applied to.
//
// Precedence, as HCP Terraform's for sets owned by an organization and not
// marked priority: a workspace's own variable wins over any set's; then a
// set applied to the workspace, then one applied to its project, then a
// global set; among sets of one scope, the one whose name sorts first.
// runcred has no priority sets (which would win over workspace variables).
type Set struct {
	ID           string // "varset-…"
	Organization string // name
	Name         string
	Description  string
	Global       bool
	Workspaces   []string // ids of the workspaces it is applied to
	Projects     []string // ids of the projects it is applied to
	Variables    []string // ids of its variables
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SetOptions are the settable fields of a variable set; nil leaves
// a field as it is (or at its default on create).
type SetOptions struct {
	Name        *string
	Description *string
	Global      *bool
	Priority    *bool     // only false: runcred has no priority sets
	Workspaces  *[]string // replaces the workspaces the set is applied to
}

// Authorization paths. A set is named by id, as its name may change.
// Applying a set to workspaces changes their runs' variables, so it also
// needs update on each workspace (on a project for a project, and on the
// organization's workspaces path for a global set: every workspace).
func varsetsPath(org string) string            { return resource.OrgPath(org) + "/varsets" }
func varsetPath(org, id string) string         { return varsetsPath(org) + "/" + id }
func varsetVarsPath(org, id string) string     { return varsetPath(org, id) + "/vars" }
func varsetVarPath(org, id, key string) string { return varsetVarsPath(org, id) + "/" + key }

// authorizeEveryWorkspace authorizes a change to every workspace of org
// (a global set's): update on the organization's workspaces path.
func (s *Service) authorizeEveryWorkspace(ctx context.Context, org string) error {
	return s.base.Authorize(ctx, resource.WorkspacesPath(org), access.Update)
}

func validSetName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fail.Invalidf("variable set name is required")
	case len(name) > resource.MaxNameLen:
		return fail.Invalidf("variable set name is longer than %d characters", resource.MaxNameLen)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return fail.Invalidf("variable set name must be printable UTF-8")
	}
	return nil
}

func (o SetOptions) apply(v *Set) error {
	if o.Name != nil {
		v.Name = *o.Name
	}
	if o.Description != nil {
		v.Description = *o.Description
	}
	if o.Global != nil {
		v.Global = *o.Global
	}
	if o.Priority != nil && *o.Priority {
		return fail.Invalidf("priority variable sets are not supported: a workspace's own variables always win over a set's")
	}
	if o.Workspaces != nil {
		v.Workspaces = slices.Compact(slices.Sorted(slices.Values(*o.Workspaces)))
	}
	if err := validSetName(v.Name); err != nil {
		return err
	}
	return resource.ValidDescription(v.Description)
}

// CreateVariableSet creates a variable set in org.
func (s *Service) CreateVariableSet(ctx context.Context, org string, o SetOptions) (Set, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Set{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, varsetsPath(org), access.Create); err != nil {
		return Set{}, err
	}
	if o.Name == nil {
		return Set{}, fail.Invalidf("variable set name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Set{}, err
	}
	now := store.Stored(s.base.Now())
	v := Set{ID: resource.NewID("varset"), Organization: org, CreatedAt: now, UpdatedAt: now}
	if err := o.apply(&v); err != nil {
		return Set{}, err
	}
	if v.Global {
		if err := s.authorizeEveryWorkspace(ctx, org); err != nil {
			return Set{}, err
		}
	}
	if err := s.authorizeWorkspaces(ctx, org, v.Workspaces); err != nil {
		return Set{}, err
	}
	if err := s.base.Record(ctx, "platform.varset.create", varsetAudit(v)); err != nil {
		return Set{}, err
	}
	err = s.db.insertSet(ctx, parent.ID, v)
	if err != nil {
		return Set{}, err
	}
	return v, nil
}

func varsetAudit(v Set) map[string]any {
	return map[string]any{
		"organization": v.Organization, "id": v.ID, "name": v.Name, "global": v.Global,
		"workspaces": v.Workspaces, "projects": v.Projects,
	}
}

// authorizeWorkspaces checks that each id names a workspace of org that
// the caller may update.
func (s *Service) authorizeWorkspaces(ctx context.Context, org string, ids []string) error {
	for _, id := range ids {
		w, err := s.ws.Workspace(ctx, id)
		if err != nil || w.Organization != org {
			return fail.Invalidf("workspace %q is not a workspace of organization %q", fail.Clip(id), org)
		}
		if err := s.base.Authorize(ctx, resource.WorkspacePath(org, w.Name), access.Update); err != nil {
			return err
		}
	}
	return nil
}

// authorizeProjects does the same for projects.
func (s *Service) authorizeProjects(ctx context.Context, org string, ids []string) error {
	for _, id := range ids {
		if err := s.ws.AuthorizeProject(ctx, org, id); err != nil {
			return err
		}
	}
	return nil
}

// varset looks set id up, with its relations, without authorizing.
func (s *Service) varset(ctx context.Context, id string) (Set, error) {
	if !resource.ValidID("varset", id) {
		return Set{}, fail.NotFoundf("variable set %q not found", fail.Clip(id))
	}
	return s.db.set(ctx, id)
}

func (s *Service) varsetFor(ctx context.Context, id, capability string) (Set, error) {
	v, err := s.varset(ctx, id)
	if err != nil {
		return Set{}, err
	}
	if err := s.base.Authorize(ctx, varsetPath(v.Organization, v.ID), capability); err != nil {
		return Set{}, err
	}
	return v, nil
}

// VariableSet returns variable set id.
func (s *Service) VariableSet(ctx context.Context, id string) (Set, error) {
	return s.varsetFor(ctx, id, access.Read)
}

// SetFilter narrows a variable set list.
type SetFilter struct {
	Search string // part of the name
	Page   resource.Page
}

// VariableSets lists org's variable sets by name, one page at a time, with the total count.
func (s *Service) VariableSets(ctx context.Context, org string, f SetFilter) ([]Set, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, varsetsPath(org)); err != nil {
		return nil, 0, err
	}
	return s.db.sets(ctx, `o.name = ?`, []any{org}, f)
}

// VariableSetsForWorkspace lists the variable sets that apply to
// workspace wsID: applied to it or its project, or global.
func (s *Service) VariableSetsForWorkspace(ctx context.Context, wsID string, f SetFilter) ([]Set, int, error) {
	w, err := s.ws.For(ctx, wsID, access.Read)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, varsetsPath(w.Organization), access.List); err != nil {
		return nil, 0, err
	}
	return s.db.sets(ctx, `o.name = ? AND `+scopeOf+` > 0`, []any{w.Organization, w.ID, w.ProjectID}, f)
}

// VariableSetsForProject lists the variable sets applied to project id.
func (s *Service) VariableSetsForProject(ctx context.Context, id string, f SetFilter) ([]Set, int, error) {
	p, err := s.organizations.Project(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, varsetsPath(p.Organization), access.List); err != nil {
		return nil, 0, err
	}
	return s.db.sets(ctx, `EXISTS (SELECT 1 FROM varset_projects x WHERE x.varset_id = s.id AND x.project_id = ?)`, []any{p.ID}, f)
}

// UpdateVariableSet changes variable set id. Making it global or not, or
// replacing its workspaces, is authorized like applying it.
func (s *Service) UpdateVariableSet(ctx context.Context, id string, o SetOptions) (Set, error) {
	old, err := s.varsetFor(ctx, id, access.Update)
	if err != nil {
		return Set{}, err
	}
	v := old
	if err := o.apply(&v); err != nil {
		return Set{}, err
	}
	if v.Global != old.Global {
		if err := s.authorizeEveryWorkspace(ctx, v.Organization); err != nil {
			return Set{}, err
		}
	}
	added, removed := diff(old.Workspaces, v.Workspaces)
	if err := s.authorizeWorkspaces(ctx, v.Organization, added); err != nil {
		return Set{}, err
	}
	if err := s.authorizeWorkspaces(ctx, v.Organization, removed); err != nil {
		return Set{}, err
	}
	v.UpdatedAt = store.Stored(s.base.Now())
	if err := s.base.Record(ctx, "platform.varset.update", varsetAudit(v)); err != nil {
		return Set{}, err
	}
	err = s.db.updateSet(ctx, v, added, removed)
	if err != nil {
		return Set{}, err
	}
	return v, nil
}

// diff returns what to has that from lacks, and the reverse.
func diff(from, to []string) (added, removed []string) {
	for _, id := range to {
		if !slices.Contains(from, id) {
			added = append(added, id)
		}
	}
	for _, id := range from {
		if !slices.Contains(to, id) {
			removed = append(removed, id)
		}
	}
	return added, removed
}

// DeleteVariableSet deletes variable set id and its variables. Removing
// a set changes the variables of every workspace it applies to, so it is
// authorized like removing it from each.
func (s *Service) DeleteVariableSet(ctx context.Context, id string) error {
	v, err := s.varsetFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if v.Global {
		if err := s.authorizeEveryWorkspace(ctx, v.Organization); err != nil {
			return err
		}
	}
	if err := s.authorizeWorkspaces(ctx, v.Organization, v.Workspaces); err != nil {
		return err
	}
	if err := s.authorizeProjects(ctx, v.Organization, v.Projects); err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.varset.delete", varsetAudit(v)); err != nil {
		return err
	}
	res, err := s.db.deleteSet(ctx, v.ID)
	return resource.Affected(res, err, "variable set %q not found", id)
}

// ApplyVariableSetToWorkspaces applies variable set id to workspaces ids.
func (s *Service) ApplyVariableSetToWorkspaces(ctx context.Context, id string, ids []string) error {
	return s.applySet(ctx, id, ids, "workspace", true)
}

// RemoveVariableSetFromWorkspaces removes variable set id from workspaces ids.
func (s *Service) RemoveVariableSetFromWorkspaces(ctx context.Context, id string, ids []string) error {
	return s.applySet(ctx, id, ids, "workspace", false)
}

// ApplyVariableSetToProjects applies variable set id to projects ids.
func (s *Service) ApplyVariableSetToProjects(ctx context.Context, id string, ids []string) error {
	return s.applySet(ctx, id, ids, "project", true)
}

// RemoveVariableSetFromProjects removes variable set id from projects ids.
func (s *Service) RemoveVariableSetFromProjects(ctx context.Context, id string, ids []string) error {
	return s.applySet(ctx, id, ids, "project", false)
}

func (s *Service) applySet(ctx context.Context, id string, ids []string, kind string, apply bool) error {
	v, err := s.varsetFor(ctx, id, access.Update)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fail.Invalidf("at least one %s is required", kind)
	}
	if len(ids) > resource.MaxPageSize {
		return fail.Invalidf("at most %d %ss may be given at once", resource.MaxPageSize, kind)
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	table, column, check := "varset_workspaces", "workspace_id", s.authorizeWorkspaces
	if kind == "project" {
		table, column, check = "varset_projects", "project_id", s.authorizeProjects
	}
	if err := check(ctx, v.Organization, ids); err != nil {
		return err
	}
	verb := "apply"
	if !apply {
		verb = "remove"
	}
	if err := s.base.Record(ctx, "platform.varset."+verb, map[string]any{
		"organization": v.Organization, "id": v.ID, "name": v.Name, kind + "s": ids,
	}); err != nil {
		return err
	}
	return s.db.applySet(ctx, table, column, v.ID, ids, apply)
}

// setVariables returns, with their values, the variables of every
// variable set that applies to workspace w, one per category and key: a
// set applied to w wins over one applied to w's project, which wins over a
// global set; among sets of one scope the set whose name sorts first (byte
// order) wins. A workspace's own variables win over all of these; the
// caller merges them. It does not authorize: its caller has, on w's
// run-variables path.
func (s *Service) setVariables(ctx context.Context, w workspace.Workspace) ([]RunVariable, error) {
	sets, err := s.db.applied(ctx, w)
	if err != nil {
		return nil, err
	}
	sets = slices.DeleteFunc(sets, func(a applied) bool { return a.scope == 0 })
	sort.Slice(sets, func(i, j int) bool {
		if sets[i].scope != sets[j].scope {
			return sets[i].scope > sets[j].scope
		}
		return sets[i].name < sets[j].name
	})
	var out []RunVariable
	taken := map[string]bool{}
	for _, a := range sets {
		stored, err := s.setVariablesOf(ctx, a.id)
		if err != nil {
			return nil, err
		}
		for _, v := range stored {
			if taken[v.Category+"/"+v.Key] {
				continue
			}
			taken[v.Category+"/"+v.Key] = true
			value, err := s.open(v)
			if err != nil {
				return nil, err
			}
			out = append(out, RunVariable{ID: v.ID, Key: v.Key, Value: value, Category: v.Category, HCL: v.HCL,
				Sensitive: v.Sensitive, WrittenBy: v.WrittenBy})
		}
	}
	return out, nil
}
