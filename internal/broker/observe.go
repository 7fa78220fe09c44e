package broker

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
)

// Route names the route a /v1/ request path takes, for metrics and the
// access log. family is the type of the mount it reaches ("kv", "aws",
// "jwt", "approle", "system" for sys/, "token" for auth/token/; "none" when
// no mount does): a set as small as the engines. template, only when
// withTemplate (the access log's; matching the route again is work a
// request's metrics do not need), is the mount's path and the matched
// route's pattern ("/v1/aws/creds/+"), so it never holds a value of the
// request's (a token, a secret id, a lease id).
func (b *Broker) Route(ctx context.Context, urlPath string, withTemplate bool) (family, template string) {
	p, ok := strings.CutPrefix(urlPath, "/v1/")
	if !ok {
		return "none", "/v1/{unmatched}"
	}
	m, rest, err := b.mounts.route(ctx, p)
	if err != nil || m == nil {
		return "none", "/v1/{unmatched}"
	}
	if !withTemplate {
		return m.Type, ""
	}
	r, err := b.router(ctx, m)
	if err != nil {
		return m.Type, "/v1/" + m.Path + "{unmatched}"
	}
	pat := r.path(rest, engine.Read).Pattern
	if pat == "" {
		pat = "{unmatched}"
	}
	return m.Type, "/v1/" + m.Path + pat
}

// LeaseCounts counts the leases of every node, with one indexed statement.
func (b *Broker) LeaseCounts(ctx context.Context) (LeaseCounts, error) { return b.leases.counts(ctx) }
