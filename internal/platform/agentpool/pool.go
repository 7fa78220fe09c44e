package agentpool

import (
	"slices"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Pool is a named group of agents in an organization; a workspace
// assigned to it has its jobs claimed only by agents holding one of its
// agent tokens.
type Pool struct {
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

// Options are the settable fields of an agent pool; nil leaves a field as
// it is (or at its default on create: organization-scoped, no allowed
// workspaces).
type Options struct {
	Name               *string
	OrganizationScoped *bool
	AllowedWorkspaces  *[]string // workspace ids; replaces the list
}

// Filter narrows an agent pool list.
type Filter struct {
	Search string // part of the name
	Page   resource.Page
}

// JobsPath is where claiming a pool's jobs is granted. Pools are named by
// id: a pool's name can change, its id is what workspaces and the broker
// policy of its agents name.
func JobsPath(pool string) string { return "runcred/agent-pools/" + pool + "/jobs" }

// policyBody is the broker policy every agent token of a pool holds
// (apitoken.PoolPolicy): it lets the token claim the pool's jobs and
// nothing else. Driving a claimed run takes the job token the run engine
// issues for it.
func policyBody(id string) string {
	return "# runcred agent pool " + id + ": claim the pool's jobs.\n" +
		`path "` + JobsPath(id) + `" { capabilities = ["update"] }` + "\n"
}

func (o Options) apply(p *Pool) error {
	if o.Name != nil {
		p.Name = *o.Name
	}
	if o.OrganizationScoped != nil {
		p.OrganizationScoped = *o.OrganizationScoped
	}
	if o.AllowedWorkspaces != nil {
		p.AllowedWorkspaces = slices.Compact(slices.Sorted(slices.Values(*o.AllowedWorkspaces)))
	}
	return resource.ValidName("agent pool", p.Name)
}

func audit(p Pool) map[string]any {
	return map[string]any{
		"organization": p.Organization, "id": p.ID, "name": p.Name,
		"organization_scoped": p.OrganizationScoped, "allowed_workspaces": p.AllowedWorkspaces,
	}
}

func inUse(p Pool) error {
	return fail.Conflictf("agent pool %q is used by %d workspace(s); assign them another pool first", p.Name, max(len(p.Workspaces), 1))
}
