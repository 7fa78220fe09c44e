// Package access carries the authenticated caller through a request and
// defines the one question every service method asks first: may this caller
// perform this operation on this path? Paths and capabilities follow Vault's
// ACL vocabulary so broker policies can govern runcred's own API too.
package access

import (
	"context"
	"slices"

	"github.com/runcred/runcred/internal/fail"
)

// Capability names, as in Vault policies.
const (
	Create = "create"
	Read   = "read"
	Update = "update"
	Delete = "delete"
	List   = "list"
	Sudo   = "sudo"
)

// Caller is who a request comes from.
type Caller struct {
	Accessor    string // token accessor (safe to log), empty for internal callers
	DisplayName string
	Policies    []string
	Meta        map[string]string
}

// IsRoot reports whether the caller holds the root policy.
func (c Caller) IsRoot() bool { return slices.Contains(c.Policies, "root") }

type ctxKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// CallerFrom returns the caller in ctx, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(Caller)
	return c, ok
}

// Authorizer decides whether the caller in ctx may use capability on path.
type Authorizer interface {
	Authorize(ctx context.Context, path, capability string) error
}

// RootOnly allows only root callers. It is the authorizer until ACL policies
// exist to say more.
type RootOnly struct{}

func (RootOnly) Authorize(ctx context.Context, path, capability string) error {
	c, ok := CallerFrom(ctx)
	if !ok {
		return fail.Unauthenticatedf("missing client token")
	}
	if !c.IsRoot() {
		return fail.Deniedf("permission denied")
	}
	return nil
}

// ReservedMeta are the caller metadata keys that only runcred itself sets,
// on the tokens it issues (platform/resource.Tokens): a write's provenance (a run, a
// team) and a job token's run and phase are derived from them. An auth
// method's metadata (JWT claim mappings, AppRole secret-ID metadata) and
// auth/token/create's meta may not use them, or a token could pose as a
// run of the workspace that manages a variable.
var ReservedMeta = []string{"run_id", "workspace_id", "team_id", "phase_id"}

// RunMeta are the broker token metadata keys that name a Terraform run:
// the AWS engine names a run's STS session after them
// (runcred-<run>-<phase>, what CloudTrail records), and leases and audit
// records carry them so they join back to the run. Only a JWT login with a
// token runcred's own issuer signed (minted for a run's job) sets them;
// everywhere else they are refused like ReservedMeta.
var RunMeta = []string{"terraform_run_id", "terraform_run_phase", "terraform_full_workspace", "terraform_workspace_id"}

// CheckMeta refuses metadata that sets a reserved key or a run key.
func CheckMeta(m map[string]string) error {
	for _, k := range ReservedMeta {
		if _, ok := m[k]; ok {
			return fail.Invalidf("metadata key %q is reserved for tokens runcred issues itself", k)
		}
	}
	return checkRunMeta(m)
}

// CheckPlatformMeta refuses metadata that sets a reserved key, and lets
// the run keys through: for a login whose run keys came from runcred's own
// issuer.
func CheckPlatformMeta(m map[string]string) error {
	for _, k := range ReservedMeta {
		if _, ok := m[k]; ok {
			return fail.Invalidf("metadata key %q is reserved for tokens runcred issues itself", k)
		}
	}
	return nil
}

func checkRunMeta(m map[string]string) error {
	for _, k := range RunMeta {
		if _, ok := m[k]; ok {
			return fail.Invalidf("metadata key %q is reserved: only a login with a token runcred's own issuer minted for a run may name a run", k)
		}
	}
	return nil
}
