package daemon

import (
	"context"
	"time"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/token"
)

// platformTokens lets the platform issue broker tokens (resource.Tokens).
type platformTokens struct {
	b   *broker.Broker
	now func() time.Time
}

func (p platformTokens) IssueToken(ctx context.Context, r resource.TokenRequest) (resource.IssuedToken, error) {
	e := token.Entry{DisplayName: r.DisplayName, Policies: r.Policies, Meta: r.Meta, TTL: r.TTL}
	if r.TTL > 0 {
		e.ExpiresAt = p.now().Add(r.TTL)
		e.MaxExpiresAt = e.ExpiresAt
	}
	tok, e, err := p.b.IssueToken(ctx, e)
	if err != nil {
		return resource.IssuedToken{}, err
	}
	return resource.IssuedToken{Token: tok, Accessor: e.Accessor, Expires: e.ExpiresAt}, nil
}

func (p platformTokens) RevokeAccessor(ctx context.Context, accessor string) error {
	return p.b.RevokeAccessor(ctx, accessor, "revoked by the platform")
}

func (p platformTokens) PutPolicy(ctx context.Context, name, body string) error {
	return p.b.PutPolicy(ctx, name, body)
}

func (p platformTokens) EnsurePolicy(ctx context.Context, name, body string) error {
	return p.b.EnsurePolicy(ctx, name, body)
}

func (p platformTokens) DeletePolicy(ctx context.Context, name string) error {
	return p.b.DeletePolicy(ctx, name)
}

// DefaultAgentToken issues a token for an agent serving workspaces without
// an agent pool, as the in-process agent of `runcred dev` does.
func (d *Daemon) DefaultAgentToken(ctx context.Context, ttl time.Duration) (secret.Value, error) {
	t, err := platformTokens{b: d.Broker, now: d.cfg.Now}.IssueToken(ctx, resource.TokenRequest{
		DisplayName: "agent-default", Policies: []string{run.DefaultAgentPolicy}, TTL: ttl,
	})
	return t.Token, err
}
