// Package aws is the broker's AWS secrets engine, compatible with Vault's
// `aws` engine for the STS credential types: it keeps the root credentials
// (config/root), the lease settings (config/lease) and the roles
// (roles/:name), and answers creds/:name and sts/:name with temporary
// credentials from AssumeRole, GetFederationToken or GetSessionToken, sent
// to AWS or to any STS-compatible endpoint.
//
// Paths, fields, defaults and error messages follow Vault's so that the
// vault CLI, the Go client and terraform-provider-vault work unchanged. What
// differs, deliberately:
//
//   - credential_type iam_user is refused: runcred does not create IAM users.
//   - iam_groups is stored but not applied: the groups' policies are not
//     fetched from IAM and merged into the session policy. Since that merge
//     only ever widens the session policy, ignoring it is safe whenever the
//     role has its own policy_document or policy_arns; a role that would be
//     narrowed by its groups alone is refused.
//   - When the caller's token comes from a Terraform run, the default session
//     name is runcred-<run id>-<phase>, so CloudTrail entries join back to the
//     run; otherwise it is Vault's vault-<display name>-<role>-<time>-<random>.
//   - Root credentials come only from config/root (no environment, shared
//     files or instance roles), and username_template is stored but names
//     always follow Vault's default template.
//
// STS credentials cannot be revoked at AWS: revoking a lease succeeds and
// does nothing, as in Vault, and the credentials stay valid until they
// expire. Their lease is not renewable.
package aws

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
)

// Options are what the engine takes from the process rather than a mount.
type Options struct {
	// Now is the clock for session names and lease TTLs; nil is time.Now.
	Now func() time.Time
	// HTTPClient carries the STS calls; nil is the AWS SDK's default.
	HTTPClient *http.Client
}

// Backend is the engine mounted at one path. It keeps nothing but a cached
// STS client; everything else lives in the mount's storage.
type Backend struct {
	conf engine.MountConfig
	opts Options

	routes *engine.Routes

	mu     sync.Mutex
	client *cachedClient
}

// New returns the engine for a mount.
func New(conf engine.MountConfig, opts Options) (*Backend, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Backend{conf: conf, opts: opts}
	b.routes = b.paths()
	return b, nil
}

// Factory returns an engine.Factory for the core's mount table.
func Factory(opts Options) engine.Factory {
	return engine.FactoryOf(New, opts)
}

// Routes are the engine's paths.
func (b *Backend) Routes() *engine.Routes { return b.routes }

// Revoke ends an STS lease. STS credentials cannot be revoked before they
// expire, so, as in Vault, there is nothing to do: the lease ends and the
// credentials stay valid at AWS for what is left of their lifetime, which
// is what the lease said.
func (b *Backend) Revoke(context.Context, engine.Lease) error { return nil }

// unknownWarning is Vault's warning for fields a path does not know.
func unknownWarning(f engine.Fields, known ...string) []string {
	if u := f.Unknown(known...); len(u) > 0 {
		return []string{"Endpoint ignored these unrecognized parameters: [" + strings.Join(u, " ") + "]"}
	}
	return nil
}

var _ engine.Revoker = (*Backend)(nil)
