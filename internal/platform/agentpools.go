package platform

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/apitoken"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// AgentPool is a named group of agents in an organization; a workspace
// assigned to it has its jobs claimed only by agents holding one of its
// agent tokens.
type AgentPool struct {
	ID           string
	Organization string // name
	Name         string
	// OrganizationScoped lets every workspace of the organization use the
	// pool; otherwise only AllowedWorkspaces may.
	OrganizationScoped bool
	AllowedWorkspaces  []string // workspace ids
	Workspaces         []string // ids of the workspaces that use the pool
	CreatedAt          time.Time
}

// AgentPoolOptions are the settable fields of an agent pool; nil leaves a
// field as it is (or at its default on create: organization-scoped, no
// allowed workspaces).
type AgentPoolOptions struct {
	Name               *string
	OrganizationScoped *bool
	AllowedWorkspaces  *[]string // workspace ids; replaces the list
}

// MetaAgentPoolID is the caller metadata key naming an agent token's pool,
// so an agent can learn which pool's jobs to claim from its token.
const MetaAgentPoolID = "agent_pool_id"

// Authorization paths of agent pools and their tokens. Pools are named by
// id: a pool's name can change, its id is what workspaces and the broker
// policy of its agents name.
func poolsPath(org string) string          { return resource.OrgPath(org) + "/agent-pools" }
func poolPath(org, id string) string       { return poolsPath(org) + "/" + id }
func poolTokensPath(org, id string) string { return poolPath(org, id) + "/tokens" }

// poolPolicyBody is the broker policy every agent token of a pool holds
// (apitoken.PoolPolicy): it lets the token claim the pool's jobs and
// nothing else. Driving a claimed run takes the job token the run engine
// issues for it.
func poolPolicyBody(id string) string {
	return "# runcred agent pool " + id + ": claim the pool's jobs.\n" +
		`path "` + poolJobsPath(id) + `" { capabilities = ["update"] }` + "\n"
}

func (o AgentPoolOptions) apply(p *AgentPool) error {
	if o.Name != nil {
		p.Name = *o.Name
	}
	if o.OrganizationScoped != nil {
		p.OrganizationScoped = *o.OrganizationScoped
	}
	if o.AllowedWorkspaces != nil {
		p.AllowedWorkspaces = slices.Compact(slices.Sorted(slices.Values(*o.AllowedWorkspaces)))
	}
	return resource.ValidResourceName("agent pool", p.Name)
}

// CreateAgentPool creates an agent pool in org and, when the service can
// issue tokens, the broker policy its agent tokens will hold.
func (s *Service) CreateAgentPool(ctx context.Context, org string, o AgentPoolOptions) (AgentPool, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return AgentPool{}, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, poolsPath(org), access.Create); err != nil {
		return AgentPool{}, err
	}
	if o.Name == nil {
		return AgentPool{}, fail.Invalidf("agent pool name is required")
	}
	parent, err := s.orgs.Organization(ctx, org)
	if err != nil {
		return AgentPool{}, err
	}
	p := AgentPool{ID: resource.NewID("apool"), Organization: org, OrganizationScoped: true, CreatedAt: resource.FromNanos(resource.Nanos(s.base.Now()))}
	if err := o.apply(&p); err != nil {
		return AgentPool{}, err
	}
	if err := s.checkPoolWorkspaces(ctx, org, p.AllowedWorkspaces); err != nil {
		return AgentPool{}, err
	}
	if err := s.base.Record(ctx, "platform.agent_pool.create", poolAudit(p)); err != nil {
		return AgentPool{}, err
	}
	if s.tokens != nil {
		if err := s.tokens.PutPolicy(ctx, apitoken.PoolPolicy(p.ID), poolPolicyBody(p.ID)); err != nil {
			return AgentPool{}, err
		}
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_pools (id, org_id, name, organization_scoped, created_at) VALUES (?, ?, ?, ?, ?)`,
			p.ID, parent.ID, p.Name, resource.B2I(p.OrganizationScoped), resource.Nanos(p.CreatedAt)); err != nil {
			return resource.Conflict(err, "agent pool %q already exists in organization %q", p.Name, org)
		}
		return setPoolWorkspaces(ctx, tx, p.ID, p.AllowedWorkspaces)
	})
	if err != nil {
		return AgentPool{}, err
	}
	return p, nil
}

func poolAudit(p AgentPool) map[string]any {
	return map[string]any{
		"organization": p.Organization, "id": p.ID, "name": p.Name,
		"organization_scoped": p.OrganizationScoped, "allowed_workspaces": p.AllowedWorkspaces,
	}
}

// checkPoolWorkspaces checks that every id names a workspace of org.
func (s *Service) checkPoolWorkspaces(ctx context.Context, org string, ids []string) error {
	for _, id := range ids {
		w, err := s.workspace(ctx, id)
		if err != nil || w.Organization != org {
			return fail.Invalidf("workspace %q is not a workspace of organization %q", resource.Clip(id), org)
		}
	}
	return nil
}

func setPoolWorkspaces(ctx context.Context, tx *store.Tx, pool string, ids []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM agent_pool_workspaces WHERE pool_id = ?`, pool); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_pool_workspaces (pool_id, workspace_id) VALUES (?, ?)`, pool, id); err != nil {
			return err
		}
	}
	return nil
}

const poolColumns = `p.id, o.name, p.name, p.organization_scoped, p.created_at`

const poolFrom = ` FROM agent_pools p JOIN organizations o ON o.id = p.org_id `

func scanPool(row interface{ Scan(...any) error }) (AgentPool, error) {
	var p AgentPool
	var scoped, created int64
	if err := row.Scan(&p.ID, &p.Organization, &p.Name, &scoped, &created); err != nil {
		return AgentPool{}, err
	}
	p.OrganizationScoped, p.CreatedAt = scoped != 0, resource.FromNanos(created)
	return p, nil
}

// pool looks pool id up, with its workspaces, without authorizing.
func (s *Service) pool(ctx context.Context, id string) (AgentPool, error) {
	if !resource.ValidID("apool", id) {
		return AgentPool{}, fail.NotFoundf("agent pool %q not found", resource.Clip(id))
	}
	p, err := scanPool(s.base.DB.QueryRow(ctx, `SELECT `+poolColumns+poolFrom+`WHERE p.id = ?`, id))
	if err != nil {
		return AgentPool{}, resource.NotFound(err, "agent pool %q not found", id)
	}
	return p, s.poolRelations(ctx, &p)
}

func (s *Service) poolRelations(ctx context.Context, p *AgentPool) error {
	rows, err := s.base.DB.Query(ctx, `SELECT workspace_id FROM agent_pool_workspaces WHERE pool_id = ? ORDER BY workspace_id`, p.ID)
	if err != nil {
		return err
	}
	if p.AllowedWorkspaces, err = store.Strings(rows); err != nil {
		return err
	}
	rows, err = s.base.DB.Query(ctx, `SELECT id FROM workspaces WHERE agent_pool_id = ? ORDER BY id`, p.ID)
	if err != nil {
		return err
	}
	p.Workspaces, err = store.Strings(rows)
	return err
}

// poolFor looks pool id up and authorizes capability on it; a denial and
// a missing pool look the same to API clients (both 404).
func (s *Service) poolFor(ctx context.Context, id, capability string) (AgentPool, error) {
	p, err := s.pool(ctx, id)
	if err != nil {
		return AgentPool{}, err
	}
	if err := s.base.Authorize(ctx, poolPath(p.Organization, p.ID), capability); err != nil {
		return AgentPool{}, err
	}
	return p, nil
}

// AgentPool returns agent pool id.
func (s *Service) AgentPool(ctx context.Context, id string) (AgentPool, error) {
	return s.poolFor(ctx, id, access.Read)
}

// AgentPoolFilter narrows an agent pool list.
type AgentPoolFilter struct {
	Search string // part of the name
	Page   resource.Page
}

// AgentPools lists org's agent pools by name, one page at a time, with the total count.
func (s *Service) AgentPools(ctx context.Context, org string, f AgentPoolFilter) ([]AgentPool, int, error) {
	if err := resource.ValidOrganizationName(org); err != nil {
		return nil, 0, fail.NotFoundf("organization %q not found", resource.Clip(org))
	}
	if err := s.base.Authorize(ctx, poolsPath(org), access.List); err != nil {
		return nil, 0, err
	}
	if _, err := s.orgs.Organization(ctx, org); err != nil {
		return nil, 0, err
	}
	where, args := `WHERE o.name = ?`, []any{org}
	if f.Search != "" {
		where, args = where+` AND p.name LIKE ? ESCAPE '\'`, append(args, resource.LikeContains(f.Search))
	}
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*)`+poolFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := f.Page.Normalize()
	rows, err := s.base.DB.Query(ctx, `SELECT `+poolColumns+poolFrom+where+` ORDER BY p.name LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanPool)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		if err := s.poolRelations(ctx, &out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// likeContains is a LIKE pattern matching s anywhere, with LIKE's
// wildcards escaped ('_' is legal in names).
// UpdateAgentPool changes agent pool id. Workspaces already using the pool
// keep it: the allowed list is checked when a workspace is assigned.
func (s *Service) UpdateAgentPool(ctx context.Context, id string, o AgentPoolOptions) (AgentPool, error) {
	p, err := s.poolFor(ctx, id, access.Update)
	if err != nil {
		return AgentPool{}, err
	}
	if err := o.apply(&p); err != nil {
		return AgentPool{}, err
	}
	if err := s.checkPoolWorkspaces(ctx, p.Organization, p.AllowedWorkspaces); err != nil {
		return AgentPool{}, err
	}
	if err := s.base.Record(ctx, "platform.agent_pool.update", poolAudit(p)); err != nil {
		return AgentPool{}, err
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE agent_pools SET name = ?, organization_scoped = ? WHERE id = ?`, p.Name, resource.B2I(p.OrganizationScoped), p.ID)
		if err := resource.Affected(res, resource.Conflict(err, "agent pool %q already exists in organization %q", p.Name, p.Organization), "agent pool %q not found", id); err != nil {
			return err
		}
		return setPoolWorkspaces(ctx, tx, p.ID, p.AllowedWorkspaces)
	})
	if err != nil {
		return AgentPool{}, err
	}
	return p, nil
}

// DeleteAgentPool deletes agent pool id, revoking its agent tokens and
// deleting their policy. A pool that a workspace uses cannot be deleted.
func (s *Service) DeleteAgentPool(ctx context.Context, id string) error {
	p, err := s.poolFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	if len(p.Workspaces) > 0 {
		return poolInUse(p)
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
	return s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM platform_tokens WHERE owner_id = ?`, p.ID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM agent_pools WHERE id = ? AND NOT EXISTS (SELECT 1 FROM workspaces WHERE agent_pool_id = ?)`, p.ID, p.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return poolInUse(p) // assigned meanwhile; its tokens are revoked, new ones may be issued
		}
		return nil
	})
}

func poolInUse(p AgentPool) error {
	return fail.Conflictf("agent pool %q is used by %d workspace(s); assign them another pool first", p.Name, max(len(p.Workspaces), 1))
}

// checkAgentPool checks that w may use the agent pool it names: the pool
// exists in w's organization and is organization-scoped or allows w.
func (s *Service) checkAgentPool(ctx context.Context, w Workspace) error {
	if w.AgentPoolID == "" {
		return nil
	}
	p, err := s.pool(ctx, w.AgentPoolID)
	if err != nil || p.Organization != w.Organization {
		return fail.Invalidf("agent pool %q is not an agent pool of organization %q", resource.Clip(w.AgentPoolID), w.Organization)
	}
	if !p.OrganizationScoped && !slices.Contains(p.AllowedWorkspaces, w.ID) {
		return fail.Invalidf("agent pool %q is not organization-scoped and does not allow workspace %q", p.Name, w.Name)
	}
	return nil
}

// CreateAgentToken issues a token for the agents of pool poolID. The
// token is returned this once; runcred keeps only its accessor.
func (s *Service) CreateAgentToken(ctx context.Context, poolID, description string) (apitoken.Token, error) {
	p, err := s.pool(ctx, poolID)
	if err != nil {
		return apitoken.Token{}, err
	}
	if err := s.base.Authorize(ctx, poolTokensPath(p.Organization, p.ID), access.Create); err != nil {
		return apitoken.Token{}, err
	}
	if strings.TrimSpace(description) == "" {
		return apitoken.Token{}, fail.Invalidf("agent token description is required")
	}
	if err := resource.ValidDescription(description); err != nil {
		return apitoken.Token{}, err
	}
	if s.tokens == nil {
		return apitoken.Token{}, apitoken.ErrNoTokens
	}
	t := apitoken.Token{ID: resource.NewID("at"), Kind: apitoken.KindAgent, Organization: p.Organization, OwnerID: p.ID, Description: description}
	if err := s.base.Record(ctx, "platform.agent_token.create", apitoken.Audit(t)); err != nil {
		return apitoken.Token{}, err
	}
	// Written if missing: the pool may predate the service's token issuer,
	// or its policy may have been removed through the broker's API; an
	// admin's edit of it stands.
	if err := s.tokens.EnsurePolicy(ctx, apitoken.PoolPolicy(p.ID), poolPolicyBody(p.ID)); err != nil {
		return apitoken.Token{}, err
	}
	return s.ledger.Issue(ctx, t, resource.TokenRequest{
		DisplayName: "agent-" + p.Name, Policies: []string{apitoken.PoolPolicy(p.ID)},
		Meta: map[string]string{MetaAgentPoolID: p.ID},
	})
}

// AgentTokens lists the agent tokens of pool poolID, oldest first.
func (s *Service) AgentTokens(ctx context.Context, poolID string, pg resource.Page) ([]apitoken.Token, int, error) {
	p, err := s.pool(ctx, poolID)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, poolTokensPath(p.Organization, p.ID), access.List); err != nil {
		return nil, 0, err
	}
	return s.ledger.OfOwner(ctx, p.ID, pg)
}
