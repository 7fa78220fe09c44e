package broker

import (
	"context"
	"slices"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Authorize lets broker ACL policies govern runcred's own API: the caller's
// policies are checked on path (e.g. "runcred/identity/mint") as if it were a
// broker path. It implements access.Authorizer.
func (b *Broker) Authorize(ctx context.Context, path, capability string) error {
	c, ok := access.CallerFrom(ctx)
	if !ok {
		return fail.Unauthenticatedf("missing client token")
	}
	if slices.Contains(c.Policies, "root") {
		return nil
	}
	a, err := b.policies.acl(ctx, c.Policies)
	if err != nil {
		return err
	}
	if capability == access.Sudo {
		if slices.Contains(a.Capabilities(path), access.Sudo) {
			return nil
		}
		return fail.Deniedf("permission denied")
	}
	if !a.Allowed(engine.Operation(capability), path, nil).Allowed {
		return fail.Deniedf("permission denied")
	}
	return nil
}
