package broker

import (
	"context"
	"slices"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/token"
)

// tokenArg resolves the "token" field; an unknown token is a 400 as in Vault.
func (b *Broker) tokenArg(ctx context.Context, f engine.Fields) (token.Entry, secret.Value, error) {
	s, _, err := f.String("token")
	if err != nil {
		return token.Entry{}, secret.Value{}, err
	}
	if s == "" {
		return token.Entry{}, secret.Value{}, fail.Invalidf("missing token")
	}
	tok := secret.FromString(s)
	e, err := b.tokens.Lookup(ctx, tok)
	if err != nil {
		return token.Entry{}, secret.Value{}, badToken(err)
	}
	return e, tok, nil
}

func (b *Broker) accessorArg(ctx context.Context, f engine.Fields) (token.Entry, error) {
	a, _, err := f.String("accessor")
	if err != nil {
		return token.Entry{}, err
	}
	if a == "" {
		return token.Entry{}, fail.Invalidf("missing accessor")
	}
	e, err := b.tokens.LookupAccessor(ctx, a)
	if err != nil {
		return token.Entry{}, badToken(err)
	}
	return e, nil
}

func badToken(err error) error {
	if fail.Is(err, fail.Unauthenticated) {
		return fail.Invalidf("bad token")
	}
	return err
}

// tokenCreate makes a child token of the caller (or an orphan).
func (b *Broker) tokenCreate(ctx context.Context, c *call, f engine.Fields, orphan bool) (*Response, error) {
	parent := *c.entry
	root := slices.Contains(parent.Policies, "root")
	var warnings []string
	if parent.NumUses > 0 {
		return nil, fail.Invalidf("restricted use token cannot generate child tokens")
	}
	if f.Has("id") {
		return nil, fail.Invalidf("custom token ids are not supported by runcred")
	}
	if s, _, _ := f.String("role_name"); s != "" {
		return nil, fail.Invalidf("token roles are not supported by runcred")
	}
	typ, _, err := f.String("type")
	if err != nil {
		return nil, err
	}
	if typ != "" && typ != "service" {
		return nil, fail.Invalidf("token type %q is not supported by runcred: only service tokens are issued", typ)
	}
	noParent, _, err := f.Bool("no_parent")
	if err != nil {
		return nil, err
	}
	if noParent {
		if !root && !b.hasSudo(c) {
			return nil, fail.Invalidf("root or sudo privileges required to create orphan token")
		}
		orphan = true
	}
	noDefault, _, err := f.Bool("no_default_policy")
	if err != nil {
		return nil, err
	}
	pols, given, err := f.Strings("policies")
	if err != nil {
		return nil, err
	}
	if !given {
		pols = slices.DeleteFunc(slices.Clone(parent.Policies), func(p string) bool { return noDefault && p == "default" })
	}
	// A child gets "default" only if its parent may hand it out, as in Vault.
	addDefault := !noDefault && !slices.Contains(pols, "root") && (root || slices.Contains(parent.Policies, "default"))
	pols, err = normalizePolicies(pols, addDefault)
	if err != nil {
		return nil, err
	}
	if !root {
		for _, p := range pols {
			if !slices.Contains(parent.Policies, p) {
				return nil, fail.Invalidf("child policies must be subset of parent")
			}
		}
		if slices.Contains(pols, "root") {
			return nil, fail.Invalidf("root or sudo privileges required to create a root token")
		}
	}
	meta, _, err := f.StringMap("meta")
	if err != nil {
		return nil, err
	}
	if err := access.CheckMeta(meta); err != nil {
		return nil, err
	}
	renewable := true
	if v, ok, err := f.Bool("renewable"); err != nil {
		return nil, err
	} else if ok {
		renewable = v
	}
	ttl, _, err := f.Duration("ttl")
	if err != nil {
		return nil, err
	}
	if ttl == 0 {
		if ttl, _, err = f.Duration("lease"); err != nil {
			return nil, err
		}
	}
	explicit, _, err := f.Duration("explicit_max_ttl")
	if err != nil {
		return nil, err
	}
	period, _, err := f.Duration("period")
	if err != nil {
		return nil, err
	}
	if period > 0 && !root && !b.hasSudo(c) {
		return nil, fail.Invalidf("root or sudo privileges required to create periodic token")
	}
	uses, _, err := f.Int("num_uses")
	if err != nil {
		return nil, err
	}
	if uses < 0 || ttl < 0 || explicit < 0 || period < 0 {
		return nil, fail.Invalidf("num_uses, ttl, explicit_max_ttl and period cannot be negative")
	}
	display, _, err := f.String("display_name")
	if err != nil {
		return nil, err
	}
	if display == "" {
		display = "token"
	} else {
		display = "token-" + display
	}
	now := b.now().UTC().Truncate(time.Second)
	e := token.Entry{Policies: pols, Meta: meta, DisplayName: truncate(display, 128), Path: c.req.Path,
		ExplicitMaxTTL: explicit, Period: period, NumUses: uses, Renewable: renewable}
	if !orphan {
		e.ParentID = parent.ID()
		e.BoundCIDRs = parent.BoundCIDRs // a child is bound where its parent is
	}
	// A root token asked for without a TTL never expires, as in Vault; only
	// a non-expiring root token may make one.
	nonExpiring := slices.Contains(pols, "root") && ttl == 0 && explicit == 0 && period == 0
	if nonExpiring && !parent.ExpiresAt.IsZero() {
		return nil, fail.Invalidf("expiring root tokens cannot create non-expiring root tokens")
	}
	if !nonExpiring {
		_, max := c.m.ttls()
		plan := planTTL(now, ttl, 0, explicit, period, SystemMaxTTL, max)
		e.TTL, e.ExpiresAt, e.MaxExpiresAt, warnings = plan.TTL, now.Add(plan.TTL), plan.MaxAt, plan.Warnings
	}
	return &Response{Auth: b.createToken(c, e), Warnings: warnings}, nil
}

// hasSudo reports whether the caller has sudo on the request path.
func (b *Broker) hasSudo(c *call) bool {
	if c.entry != nil && slices.Contains(c.entry.Policies, "root") {
		return true
	}
	return c.acl != nil && c.acl.Allowed(c.op, c.req.Path, nil).Sudo
}

// tokenLookup renders Vault's token lookup data; tok is shown as "id" only
// when the caller presented it.
func (b *Broker) tokenLookup(e token.Entry, tok secret.Value) *Response {
	now := b.now()
	var expire any
	if !e.ExpiresAt.IsZero() {
		expire = e.ExpiresAt.Format(time.RFC3339Nano)
	}
	id := ""
	if !tok.Empty() {
		id = tok.RevealString()
	}
	return &Response{Data: map[string]any{
		"accessor": e.Accessor, "creation_time": e.CreatedAt.Unix(), "creation_ttl": int64(e.TTL / time.Second),
		"display_name": e.DisplayName, "entity_id": "", "expire_time": expire,
		"explicit_max_ttl": int64(e.ExplicitMaxTTL / time.Second), "id": id, "identity_policies": nil,
		"issue_time": e.CreatedAt.Format(time.RFC3339Nano), "meta": metaOrNil(e.Meta), "num_uses": e.NumUses,
		"orphan": e.Orphan(), "path": e.Path, "policies": e.Policies, "renewable": e.Renewable,
		"ttl": ttlSeconds(now, e.ExpiresAt), "type": "service", "period": int64(e.Period / time.Second),
	}}
}

func metaOrNil(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func (b *Broker) tokenRenew(ctx context.Context, f engine.Fields, e token.Entry, tok secret.Value) (*Response, error) {
	inc, _, err := f.Duration("increment")
	if err != nil {
		return nil, err
	}
	e, err = b.tokens.Renew(ctx, e, inc)
	if err != nil {
		return nil, err
	}
	return &Response{Auth: b.authBlock(e, tok)}, nil
}
