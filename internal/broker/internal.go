package broker

import (
	"context"

	"github.com/runcred/runcred/internal/broker/acl"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/token"
)

// Calls made by runcred itself rather than through the Vault API: the
// platform issues agent, team and job tokens and keeps the policies that
// scope them. The caller has already authorized the operation; each call
// is audited here, before it takes effect.

// IssueToken creates an orphan service token for e, which may not hold
// root. The record names the token by accessor, never by value.
func (b *Broker) IssueToken(ctx context.Context, e token.Entry) (secret.Value, token.Entry, error) {
	pols, err := normalizePolicies(e.Policies, true)
	if err != nil {
		return secret.Value{}, token.Entry{}, err
	}
	for _, p := range pols {
		if p == "root" {
			return secret.Value{}, token.Entry{}, fail.Invalidf("runcred never issues root tokens")
		}
	}
	e.Policies, e.ParentID, e.Type = pols, "", "service"
	if e.Path == "" {
		e.Path = "runcred/tokens"
	}
	// The accessor is only known after Create, so the record precedes it
	// with what the token will be; a failed create leaves the attempt.
	if _, err := b.audit.Append(ctx, "broker.token.issue", map[string]any{
		"display_name": e.DisplayName, "policies": e.Policies, "meta": e.Meta, "path": e.Path,
		"expires_at": e.ExpiresAt,
	}); err != nil {
		return secret.Value{}, token.Entry{}, fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return b.tokens.Create(ctx, e)
}

// RevokeAccessor revokes the token with accessor, its children and their
// leases. An unknown accessor is a not-found error.
func (b *Broker) RevokeAccessor(ctx context.Context, accessor, reason string) error {
	e, err := b.tokens.LookupAccessor(ctx, accessor)
	if err != nil {
		return err
	}
	return b.revokeToken(ctx, e.ID(), false, reason)
}

// PutPolicy writes an ACL policy, audited as a sys/policies/acl write.
func (b *Broker) PutPolicy(ctx context.Context, name, body string) error {
	if _, err := b.audit.Append(ctx, "broker.policy.put", map[string]any{"name": name, "policy": b.hmac(body)}); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return b.policies.put(ctx, name, body)
}

// EnsurePolicy writes an ACL policy only if none of that name exists.
func (b *Broker) EnsurePolicy(ctx context.Context, name, body string) error {
	if _, ok, err := b.policies.get(ctx, acl.NormalizeName(name)); err != nil || ok {
		return err
	}
	return b.PutPolicy(ctx, name, body)
}

// DeletePolicy removes an ACL policy.
func (b *Broker) DeletePolicy(ctx context.Context, name string) error {
	if _, err := b.audit.Append(ctx, "broker.policy.delete", map[string]any{"name": name}); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return b.policies.remove(ctx, name)
}
