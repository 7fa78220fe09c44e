package agentpool

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Workspaces tells which organization a workspace belongs to (the
// workspace domain), so a pool allows only its organization's workspaces.
type Workspaces interface {
	WorkspaceOrganization(ctx context.Context, id string) (string, error)
}

// Service manages agent pools and their agent tokens. It is safe for
// concurrent use.
type Service struct {
	base       resource.Deps
	db         db
	orgs       organization.Directory
	workspaces Workspaces
	ledger     apitoken.Ledger
	tokens     resource.Tokens // nil: no agent token is ever issued
}

// New returns a Service.
func New(base resource.Deps, orgs organization.Directory, workspaces Workspaces, ledger apitoken.Ledger, tokens resource.Tokens) *Service {
	return &Service{base: base, db: db{base.DB}, orgs: orgs, workspaces: workspaces, ledger: ledger, tokens: tokens}
}

// Create creates an agent pool in org and, when the service can
// issue tokens, the broker policy its agent tokens will hold.
func (s *Service) Create(ctx context.Context, org string, o Options) (Pool, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return Pool{}, resource.OrgNotFound(org)
	}
	if err := s.base.Authorize(ctx, resource.PoolsPath(org), access.Create); err != nil {
		return Pool{}, err
	}
	if o.Name == nil {
		return Pool{}, fail.Invalidf("agent pool name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return Pool{}, err
	}
	p := Pool{ID: resource.NewID("apool"), Organization: org, OrganizationScoped: true, CreatedAt: store.Stored(s.base.Now())}
	if err := o.apply(&p); err != nil {
		return Pool{}, err
	}
	if err := s.checkWorkspaces(ctx, org, p.AllowedWorkspaces); err != nil {
		return Pool{}, err
	}
	if err := s.base.Record(ctx, "platform.agent_pool.create", audit(p)); err != nil {
		return Pool{}, err
	}
	if s.tokens != nil {
		if err := s.tokens.PutPolicy(ctx, apitoken.PoolPolicy(p.ID), policyBody(p.ID)); err != nil {
			return Pool{}, err
		}
	}
	if err := s.db.insert(ctx, parent.ID, p); err != nil {
		return Pool{}, err
	}
	return p, nil
}

// checkWorkspaces checks that every id names a workspace of org.
func (s *Service) checkWorkspaces(ctx context.Context, org string, ids []string) error {
	for _, id := range ids {
		o, err := s.workspaces.WorkspaceOrganization(ctx, id)
		if err != nil || o != org {
			return fail.Invalidf("workspace %q is not a workspace of organization %q", fail.Clip(id), org)
		}
	}
	return nil
}

// poolFor looks pool id up and authorizes capability on it; a denial and
// a missing pool look the same to API clients (both 404).
func (s *Service) poolFor(ctx context.Context, id, capability string) (Pool, error) {
	p, err := s.db.pool(ctx, id)
	if err != nil {
		return Pool{}, err
	}
	if err := s.base.Authorize(ctx, resource.PoolPath(p.Organization, p.ID), capability); err != nil {
		return Pool{}, err
	}
	return p, nil
}

// Pool returns agent pool id.
func (s *Service) Pool(ctx context.Context, id string) (Pool, error) {
	return s.poolFor(ctx, id, access.Read)
}

// Pools lists org's agent pools by name, one page at a time, with the total count.
func (s *Service) Pools(ctx context.Context, org string, f Filter) ([]Pool, int, error) {
	if err := s.orgs.AuthorizeList(ctx, s.base, org, resource.PoolsPath(org)); err != nil {
		return nil, 0, err
	}
	return s.db.list(ctx, org, f)
}

// Update changes agent pool id. Workspaces already using the pool
// keep it: the allowed list is checked when a workspace is assigned.
func (s *Service) Update(ctx context.Context, id string, o Options) (Pool, error) {
	p, err := s.poolFor(ctx, id, access.Update)
	if err != nil {
		return Pool{}, err
	}
	if err := o.apply(&p); err != nil {
		return Pool{}, err
	}
	if err := s.checkWorkspaces(ctx, p.Organization, p.AllowedWorkspaces); err != nil {
		return Pool{}, err
	}
	if err := s.base.Record(ctx, "platform.agent_pool.update", audit(p)); err != nil {
		return Pool{}, err
	}
	if err := s.db.update(ctx, p); err != nil {
		return Pool{}, err
	}
	return p, nil
}

// Delete deletes agent pool id, revoking its agent tokens and
// deleting their policy. A pool that a workspace uses cannot be deleted.
func (s *Service) Delete(ctx context.Context, id string) error {
	p, err := s.poolFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if len(p.Workspaces) > 0 {
		return inUse(p)
	}
	if err := s.base.Record(ctx, "platform.agent_pool.delete", map[string]any{"organization": p.Organization, "id": p.ID, "name": p.Name}); err != nil {
		return err
	}
	// Credentials go first: a failure leaves a pool without working tokens,
	// never working tokens without a pool.
	if err := s.ledger.RevokeOwner(ctx, p.ID); err != nil {
		return err
	}
	if s.tokens != nil {
		if err := s.tokens.DeletePolicy(ctx, apitoken.PoolPolicy(p.ID)); err != nil {
			return err
		}
	}
	return s.db.delete(ctx, p)
}
