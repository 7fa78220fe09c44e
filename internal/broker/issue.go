package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/token"
)

// ttlPlan is a token's or lease's lifetime after Vault's capping rules.
type ttlPlan struct {
	TTL      time.Duration
	MaxAt    time.Time // hard end; renewals never pass it
	Warnings []string
}

// planTTL applies Vault's rules: TTL defaults to the mount default; the
// maximum is the smaller of the requested max and the mount max; an explicit
// max caps both; a periodic token's TTL is its period.
func planTTL(now time.Time, ttl, maxTTL, explicitMax, period, mountDef, mountMax time.Duration) ttlPlan {
	var p ttlPlan
	limit := mountMax
	if maxTTL > 0 && maxTTL < limit {
		limit = maxTTL
	}
	if period > 0 {
		ttl, limit = period, 0
	}
	if explicitMax > 0 && (limit == 0 || explicitMax < limit) {
		limit = explicitMax
	}
	if ttl <= 0 {
		ttl = mountDef
	}
	if limit > 0 && ttl > limit {
		p.Warnings = append(p.Warnings, fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly", ttl, limit))
		ttl = limit
	}
	p.TTL = ttl
	if limit > 0 {
		p.MaxAt = now.Add(limit)
	}
	return p
}

// login creates the token an auth method's Auth describes.
func (b *Broker) login(ctx context.Context, c *call, a *engine.Auth) (*AuthBlock, []string, error) {
	switch a.TokenType {
	case "", "service", "default", "default-service":
	default:
		return nil, nil, fail.Invalidf("token type %q is not supported by runcred: only service tokens are issued", a.TokenType)
	}
	pols, err := normalizePolicies(a.Policies, !a.NoDefaultPolicy)
	if err != nil {
		return nil, nil, err
	}
	if slices.Contains(pols, "root") {
		return nil, nil, fail.Invalidf("auth methods cannot create root tokens")
	}
	// Only runcred's own issuer, through a jwt mount, may name a run.
	check := access.CheckMeta
	if a.RunAttested && c.m.Type == "jwt" {
		check = access.CheckPlatformMeta
	}
	if err := check(a.Metadata); err != nil {
		return nil, nil, err
	}
	def, max := c.m.ttls()
	now := b.now().UTC().Truncate(time.Second)
	plan := planTTL(now, a.TTL, a.MaxTTL, a.ExplicitMaxTTL, a.Period, def, max)
	// Vault's display name: the mount path with "/" as "-", then the
	// method's name for the caller ("auth/ci/jwt/" + "bob" → "ci-jwt-bob").
	// The name comes from the caller's credential (a JWT claim): drop NUL,
	// which PostgreSQL cannot store in text.
	display := strings.ReplaceAll(strings.TrimPrefix(c.m.Path, "auth/"), "/", "-")
	display = strings.TrimRight(display+strings.ReplaceAll(a.DisplayName, "\x00", ""), "-")
	e := token.Entry{
		Policies: pols, Meta: a.Metadata, DisplayName: truncate(display, 128), Path: c.req.Path,
		ExpiresAt: now.Add(plan.TTL), MaxExpiresAt: plan.MaxAt, TTL: plan.TTL, ExplicitMaxTTL: a.ExplicitMaxTTL,
		Period: a.Period, NumUses: a.NumUses, Renewable: a.Renewable, BoundCIDRs: a.BoundCIDRs,
	}
	return b.createToken(c, e), plan.Warnings, nil
}

// createToken returns the auth block of a new token that c's response
// issues. The token is stored in the transaction that appends the
// response's audit record: it exists exactly when that record does, and a
// withheld response leaves nothing to revoke.
func (b *Broker) createToken(c *call, e token.Entry) *AuthBlock {
	tok, e := b.tokens.Prepare(e)
	c.issue = func(ctx context.Context, tx *store.Tx) error { return b.tokens.Insert(ctx, tx, e) }
	return b.authBlock(e, tok)
}

// authBlock renders a token as Vault's auth object.
func (b *Broker) authBlock(e token.Entry, tok secret.Value) *AuthBlock {
	return &AuthBlock{
		ClientToken: tok, Accessor: e.Accessor, Policies: e.Policies, TokenPolicies: e.Policies,
		Metadata: nonNilMeta(e.Meta), LeaseDuration: ttlSeconds(b.now(), e.ExpiresAt), Renewable: e.Renewable,
		TokenType: "service", Orphan: e.Orphan(), NumUses: e.NumUses,
	}
}

// lease registers the lease for a dynamic secret before it leaves.
func (b *Broker) lease(ctx context.Context, c *call, s *engine.Secret, resp *Response) error {
	if err := b.recordRequest(ctx, c); err != nil {
		return err
	}
	def, max := c.m.ttls()
	now := b.now().UTC().Truncate(time.Second)
	plan := planTTL(now, s.TTL, s.MaxTTL, 0, 0, def, max)
	l := &lease{
		ID: path.Join(c.m.Path+c.rest, token.Random(24)), MountUUID: c.m.UUID, Path: c.rest,
		IssuedAt: now, ExpiresAt: now.Add(plan.TTL), MaxExpiresAt: plan.MaxAt, Renewable: s.Renewable,
		Internal: s.Internal,
	}
	l.Meta, _ = json.Marshal(runMeta(c.entry)) // a map of strings: cannot fail
	if c.entry != nil {
		l.TokenID = c.entry.ID()
	}
	if err := b.leases.create(ctx, l); err != nil {
		return fmt.Errorf("broker: register lease: %w", err)
	}
	resp.LeaseID, resp.LeaseDuration, resp.Renewable = l.ID, int64(plan.TTL/time.Second), s.Renewable
	resp.Warnings = append(resp.Warnings, plan.Warnings...)
	return nil
}

// runMeta is the part of a token's metadata that names a run; leases and
// audit records carry it so they join back to the run.
func runMeta(e *token.Entry) map[string]string {
	out := map[string]string{}
	if e == nil {
		return out
	}
	for _, k := range append(slices.Clone(access.RunMeta), "role", "role_name") {
		if v, ok := e.Meta[k]; ok {
			out[k] = v
		}
	}
	out["accessor"] = e.Accessor
	return out
}

func nonNilMeta(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ttlSeconds is what is left of a token or lease expiring at exp, in whole
// seconds. Expiries are set on a whole-second clock (now truncated, plus the
// TTL), so the time left is measured on that clock too: measured from the
// exact instant, a 1200 s token created at 10.4 s would answer 1199 at once,
// where Vault answers the TTL it granted.
func ttlSeconds(now, exp time.Time) int64 {
	if exp.IsZero() {
		return 0
	}
	return max(int64(exp.Sub(now.Truncate(time.Second))/time.Second), 0)
}
