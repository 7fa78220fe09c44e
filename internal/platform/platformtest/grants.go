package platformtest

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Grants is an authorizer for tests: root may do anything, anyone else
// exactly the "path capability" pairs listed.
type Grants map[string]bool

func (g Grants) Authorize(ctx context.Context, path, capability string) error {
	c, ok := access.CallerFrom(ctx)
	if !ok {
		return fail.Unauthenticatedf("missing client token")
	}
	if c.IsRoot() || g[path+" "+capability] {
		return nil
	}
	return fail.Deniedf("permission denied")
}

// Grant grants each of caps on path.
func (g Grants) Grant(path string, caps ...string) {
	for _, c := range caps {
		g[path+" "+c] = true
	}
}

// The callers the tests act as.
var (
	Root    = access.Caller{Accessor: "acc-root", DisplayName: "root", Policies: []string{"root"}}
	User    = access.Caller{Accessor: "acc-alice", DisplayName: "alice", Policies: []string{"ops"}}
	TeamOps = access.Caller{Accessor: "acc-team", DisplayName: "team-ops", Policies: []string{"ops"}, Meta: map[string]string{resource.MetaTeamID: "team-Ops1"}}
)

// Runner is the caller of run "run-Abc" in workspace wsID.
func Runner(wsID string) access.Caller {
	return access.Caller{Accessor: "acc-run", DisplayName: "run", Policies: []string{"ops"},
		Meta: map[string]string{resource.MetaRunID: "run-Abc", resource.MetaWorkspaceID: wsID}}
}

// As is a context carrying c.
func As(c access.Caller) context.Context { return access.WithCaller(context.Background(), c) }
