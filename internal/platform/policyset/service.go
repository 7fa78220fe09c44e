package policyset

import (
	"context"
	"slices"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/store"
)

// Authorization paths. Organization members hold read and list on
// everything under their organization (team policy) and nothing more here:
// creating, changing and deleting policies and sets needs a grant of its
// own ("manage policies"), which organization owners and admins hold.
func SetsPath(org string) string       { return resource.OrgPath(org) + "/policy-sets" }
func SetPath(org, id string) string    { return SetsPath(org) + "/" + id }
func PoliciesPath(org string) string   { return resource.OrgPath(org) + "/policies" }
func PolicyPath(org, id string) string { return PoliciesPath(org) + "/" + id }

// Service manages policies, policy sets, their parameters and versions.
// It is safe for concurrent use.
type Service struct {
	base   resource.Deps
	orgs   organization.Directory
	engine *policy.Engine // nil: uploads are parsed, not compiled
}

// New returns a Service; engine, when not nil, compiles every upload so a
// set that does not compile is refused with the file and line.
func New(base resource.Deps, orgs organization.Directory, engine *policy.Engine) *Service {
	return &Service{base: base, orgs: orgs, engine: engine}
}

func (s *Service) now() int64 { return store.Nanos(store.Stored(s.base.Now())) }

// CreatePolicy creates an OPA policy in org. Its Rego arrives by
// UploadPolicy, as in HCP Terraform.
func (s *Service) CreatePolicy(ctx context.Context, org string, o PolicyOptions) (Policy, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Policy{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, PoliciesPath(org), access.Create); err != nil {
		return Policy{}, err
	}
	if o.Name == nil {
		return Policy{}, fail.Invalidf("policy name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Policy{}, err
	}
	now := store.Stored(s.base.Now())
	p := Policy{ID: resource.NewID("pol"), Organization: org, CreatedAt: now, UpdatedAt: now}
	if o.Level == nil {
		l := "advisory"
		o.Level = &l
	}
	if err := o.apply(&p); err != nil {
		return Policy{}, err
	}
	if err := s.base.Record(ctx, "platform.policy.create", map[string]any{"organization": org, "id": p.ID, "name": p.Name,
		"query": p.Query, "enforcement_level": p.Level}); err != nil {
		return Policy{}, err
	}
	err = insertPolicy(ctx, s.base.DB, parent.ID, p)
	return p, resource.Conflict(err, "policy %q already exists in organization %q", p.Name, org)
}

// policyFor looks policy id up and authorizes capability on it.
func (s *Service) policyFor(ctx context.Context, id, capability string) (Policy, error) {
	if !resource.ValidID("pol", id) {
		return Policy{}, fail.NotFoundf("policy %q not found", fail.Clip(id))
	}
	p, err := readPolicy(ctx, s.base.DB, id)
	if err != nil {
		return Policy{}, resource.NotFound(err, "policy %q not found", id)
	}
	if err := s.base.Authorize(ctx, PolicyPath(p.Organization, p.ID), capability); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Policy returns policy id.
func (s *Service) Policy(ctx context.Context, id string) (Policy, error) {
	return s.policyFor(ctx, id, access.Read)
}

// Policies lists org's policies by name, with the total count.
func (s *Service) Policies(ctx context.Context, org, search string, pg resource.Page) ([]Policy, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, PoliciesPath(org)); err != nil {
		return nil, 0, err
	}
	return listPolicies(ctx, s.base.DB, org, search, pg.Normalize())
}

// UpdatePolicy changes policy id; every set holding it gets a new revision.
func (s *Service) UpdatePolicy(ctx context.Context, id string, o PolicyOptions) (Policy, error) {
	p, err := s.policyFor(ctx, id, access.Update)
	if err != nil {
		return Policy{}, err
	}
	if o.Name != nil && *o.Name != p.Name {
		return Policy{}, fail.Invalidf("a policy cannot be renamed")
	}
	if err := o.apply(&p); err != nil {
		return Policy{}, err
	}
	return p, s.writePolicy(ctx, p, "platform.policy.update", map[string]any{"query": p.Query, "enforcement_level": p.Level})
}

// UploadPolicy sets policy id's Rego source.
func (s *Service) UploadPolicy(ctx context.Context, id string, src []byte) error {
	p, err := s.policyFor(ctx, id, access.Update)
	if err != nil {
		return err
	}
	if len(src) > MaxSourceLen || len(src) == 0 || !utf8.Valid(src) {
		return fail.Invalidf("a policy's Rego source must be 1 to %d bytes of UTF-8", MaxSourceLen)
	}
	p.Source = string(src)
	return s.writePolicy(ctx, p, "platform.policy.upload", map[string]any{"bytes": len(src)})
}

func (s *Service) writePolicy(ctx context.Context, p Policy, event string, body map[string]any) error {
	body["organization"], body["id"], body["name"] = p.Organization, p.ID, p.Name
	if err := s.base.Record(ctx, event, body); err != nil {
		return err
	}
	p.UpdatedAt = store.Stored(s.base.Now())
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := updatePolicy(ctx, tx, p); err != nil {
			return err
		}
		return bumpSetsOf(ctx, tx, p.ID, s.now())
	})
}

// PolicySource returns policy id's Rego source.
func (s *Service) PolicySource(ctx context.Context, id string) ([]byte, error) {
	p, err := s.policyFor(ctx, id, access.Read)
	if err != nil {
		return nil, err
	}
	return []byte(p.Source), nil
}

// DeletePolicy deletes policy id; the sets that held it get a new revision.
func (s *Service) DeletePolicy(ctx context.Context, id string) error {
	p, err := s.policyFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.policy.delete", map[string]any{"organization": p.Organization, "id": p.ID, "name": p.Name}); err != nil {
		return err
	}
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := bumpSetsOf(ctx, tx, p.ID, s.now()); err != nil {
			return err
		}
		return deletePolicy(ctx, tx, p.ID)
	})
}

// Create creates a policy set in org with its initial policies and scope.
func (s *Service) Create(ctx context.Context, org string, o SetOptions) (Set, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Set{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, SetsPath(org), access.Create); err != nil {
		return Set{}, err
	}
	if o.Name == nil {
		return Set{}, fail.Invalidf("policy set name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Set{}, err
	}
	now := store.Stored(s.base.Now())
	set := Set{ID: resource.NewID("polset"), Organization: org, Revision: 1, CreatedAt: now, UpdatedAt: now, Scope: map[string][]string{}}
	if err := o.apply(&set); err != nil {
		return Set{}, err
	}
	if err := s.checkMembers(ctx, parent.ID, o.PolicyIDs, o.Scope); err != nil {
		return Set{}, err
	}
	if err := s.base.Record(ctx, "platform.policy_set.create", map[string]any{"organization": org, "id": set.ID, "name": set.Name,
		"overridable": set.Overridable, "global": set.Global, "policies": o.PolicyIDs, "scope": o.Scope}); err != nil {
		return Set{}, err
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := insertSet(ctx, tx, parent.ID, set); err != nil {
			return resource.Conflict(err, "policy set %q already exists in organization %q", set.Name, org)
		}
		for _, id := range o.PolicyIDs {
			if err := addMember(ctx, tx, set.ID, id); err != nil {
				return err
			}
		}
		for kind, ids := range o.Scope {
			for _, id := range ids {
				if err := addScope(ctx, tx, set.ID, kind, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return Set{}, err
	}
	return readSet(ctx, s.base.DB, set.ID)
}

// checkMembers checks that every policy, workspace and project named
// belongs to organization orgID.
func (s *Service) checkMembers(ctx context.Context, orgID string, policyIDs []string, scope map[string][]string) error {
	check := func(table, prefix, what string, ids []string) error {
		if len(ids) > MaxMembers {
			return fail.Invalidf("at most %d %ss may be given", MaxMembers, what)
		}
		for _, id := range ids {
			ok := resource.ValidID(prefix, id)
			if ok {
				var err error
				if ok, err = inOrg(ctx, s.base.DB, table, id, orgID); err != nil {
					return err
				}
			}
			if !ok {
				return fail.Invalidf("%s %q is not a %s of this organization", what, fail.Clip(id), what)
			}
		}
		return nil
	}
	if err := check("policies", "pol", "policy", policyIDs); err != nil {
		return err
	}
	for kind, ids := range scope {
		if err := validScopeKind(kind); err != nil {
			return err
		}
		table, prefix, what := "workspaces", "ws", "workspace"
		if kind == ScopeProject || kind == ScopeProjectExclusion {
			table, prefix, what = "projects", "prj", "project"
		}
		if err := check(table, prefix, what, ids); err != nil {
			return err
		}
	}
	return nil
}

// setFor looks set id up and authorizes capability on it.
func (s *Service) setFor(ctx context.Context, id, capability string) (Set, error) {
	if !resource.ValidID("polset", id) {
		return Set{}, fail.NotFoundf("policy set %q not found", fail.Clip(id))
	}
	set, err := readSet(ctx, s.base.DB, id)
	if err != nil {
		return Set{}, resource.NotFound(err, "policy set %q not found", id)
	}
	if err := s.base.Authorize(ctx, SetPath(set.Organization, set.ID), capability); err != nil {
		return Set{}, err
	}
	return set, nil
}

// Set returns policy set id.
func (s *Service) Set(ctx context.Context, id string) (Set, error) {
	return s.setFor(ctx, id, access.Read)
}

// Sets lists org's policy sets by name, with the total count.
func (s *Service) Sets(ctx context.Context, org, search string, pg resource.Page) ([]Set, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, SetsPath(org)); err != nil {
		return nil, 0, err
	}
	return listSets(ctx, s.base.DB, org, search, pg.Normalize())
}

// Update changes set id's settings.
func (s *Service) Update(ctx context.Context, id string, o SetOptions) (Set, error) {
	set, err := s.setFor(ctx, id, access.Update)
	if err != nil {
		return Set{}, err
	}
	if err := o.apply(&set); err != nil {
		return Set{}, err
	}
	if err := s.base.Record(ctx, "platform.policy_set.update", map[string]any{"organization": set.Organization, "id": set.ID,
		"name": set.Name, "overridable": set.Overridable, "global": set.Global}); err != nil {
		return Set{}, err
	}
	set.UpdatedAt = store.Stored(s.base.Now())
	if err := updateSet(ctx, s.base.DB, set); err != nil {
		return Set{}, resource.Conflict(err, "policy set %q already exists in organization %q", set.Name, set.Organization)
	}
	return readSet(ctx, s.base.DB, set.ID)
}

// Delete deletes set id.
func (s *Service) Delete(ctx context.Context, id string) error {
	set, err := s.setFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if err := s.base.Record(ctx, "platform.policy_set.delete", map[string]any{"organization": set.Organization, "id": set.ID, "name": set.Name}); err != nil {
		return err
	}
	return deleteSet(ctx, s.base.DB, set.ID)
}

// Relationship kinds of Relate besides the Scope* kinds.
const RelPolicies = "policies"

// Relate adds (or, with remove, removes) policies (kind RelPolicies) or
// workspaces or projects (a Scope* kind) to set id.
func (s *Service) Relate(ctx context.Context, id, kind string, ids []string, remove bool) error {
	set, err := s.setFor(ctx, id, access.Update)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fail.Invalidf("at least one %s is required", kind)
	}
	org, err := orgID(ctx, s.base.DB, set.Organization)
	if err != nil {
		return err
	}
	if kind == RelPolicies {
		err = s.checkMembers(ctx, org, ids, nil)
	} else {
		err = s.checkMembers(ctx, org, nil, map[string][]string{kind: ids})
	}
	if err != nil {
		return err
	}
	event := "platform.policy_set.add"
	if remove {
		event = "platform.policy_set.remove"
	}
	if err := s.base.Record(ctx, event, map[string]any{"organization": set.Organization, "id": set.ID, "kind": kind, "ids": ids}); err != nil {
		return err
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		for _, m := range ids {
			var err error
			switch {
			case kind == RelPolicies && remove:
				err = removeMember(ctx, tx, set.ID, m)
			case kind == RelPolicies:
				err = addMember(ctx, tx, set.ID, m)
			case remove:
				err = removeScope(ctx, tx, set.ID, kind, m)
			default:
				err = addScope(ctx, tx, set.ID, kind, m)
			}
			if err != nil {
				return err
			}
		}
		return bumpSet(ctx, tx, set.ID, s.now())
	})
}
