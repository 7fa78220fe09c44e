package broker

import (
	"context"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/secret"
)

// tokenRoutes are auth/token/*, Vault's token store. Revoking a token
// without its children and listing every accessor need sudo.
func (b *Broker) tokenRoutes() *coreRoutes {
	type route = engine.Route[coreHandler]
	type ops = map[engine.Operation]coreHandler
	type p = engine.Path
	write := func(h coreHandler) ops { return ops{engine.Update: h} } // a create is served by the update handler
	create := func(orphan bool) coreHandler {
		return func(ctx context.Context, c *call) (*Response, error) {
			return b.tokenCreate(ctx, c, engine.Fields(c.req.Data), orphan)
		}
	}
	lookupSelf := func(_ context.Context, c *call) (*Response, error) {
		return b.tokenLookup(*c.entry, c.req.Token), nil
	}
	lookup := func(ctx context.Context, c *call) (*Response, error) {
		e, tok, err := b.tokenArg(ctx, engine.Fields(c.req.Data))
		if err != nil {
			return nil, err
		}
		return b.tokenLookup(e, tok), nil
	}
	accessors := func(ctx context.Context, _ *call) (*Response, error) {
		keys, err := b.tokens.Accessors(ctx)
		if err != nil || len(keys) == 0 {
			return nil, err
		}
		return &Response{Data: map[string]any{"keys": keys}}, nil
	}
	t := engine.NewTable(coreNoRoute, coreUnsupported,
		route{Path: p{Pattern: "create"}, Operations: write(create(false))},
		route{Path: p{Pattern: "create-orphan"}, Operations: write(create(true))},
		route{Path: p{Pattern: "lookup-self"}, Operations: ops{engine.Read: lookupSelf, engine.Update: lookupSelf}},
		route{Path: p{Pattern: "lookup"}, Operations: ops{engine.Read: lookup, engine.Update: lookup}},
		route{Path: p{Pattern: "lookup-accessor"}, Operations: write(b.tokenLookupAccessor)},
		route{Path: p{Pattern: "renew-self"}, Operations: write(b.tokenRenewSelf)},
		route{Path: p{Pattern: "renew"}, Operations: write(b.tokenRenewArg)},
		route{Path: p{Pattern: "renew-accessor"}, Operations: write(b.tokenRenewAccessor)},
		route{Path: p{Pattern: "revoke-self"}, Operations: write(b.tokenRevokeSelf)},
		route{Path: p{Pattern: "revoke"}, Operations: write(b.tokenRevoke)},
		route{Path: p{Pattern: "revoke-orphan", Sudo: true}, Operations: write(b.tokenRevoke)},
		route{Path: p{Pattern: "revoke-orphan/*", Sudo: true}, Otherwise: coreNoRoute},
		route{Path: p{Pattern: "revoke-accessor"}, Operations: write(b.tokenRevokeAccessor)},
		route{Path: p{Pattern: "accessors", Sudo: true}, Operations: ops{engine.List: accessors}},
		route{Path: p{Pattern: "accessors/", Sudo: true}, Operations: ops{engine.List: accessors}},
		route{Path: p{Pattern: "accessors/*", Sudo: true}, Otherwise: coreNoRoute},
	)
	return &coreRoutes{table: t}
}

func (b *Broker) tokenLookupAccessor(ctx context.Context, c *call) (*Response, error) {
	e, err := b.accessorArg(ctx, engine.Fields(c.req.Data))
	if err != nil {
		return nil, err
	}
	return b.tokenLookup(e, secret.Value{}), nil
}

func (b *Broker) tokenRenewSelf(ctx context.Context, c *call) (*Response, error) {
	return b.tokenRenew(ctx, engine.Fields(c.req.Data), *c.entry, c.req.Token)
}

func (b *Broker) tokenRenewArg(ctx context.Context, c *call) (*Response, error) {
	f := engine.Fields(c.req.Data)
	e, tok, err := b.tokenArg(ctx, f)
	if err != nil {
		return nil, err
	}
	return b.tokenRenew(ctx, f, e, tok)
}

func (b *Broker) tokenRenewAccessor(ctx context.Context, c *call) (*Response, error) {
	f := engine.Fields(c.req.Data)
	e, err := b.accessorArg(ctx, f)
	if err != nil {
		return nil, err
	}
	return b.tokenRenew(ctx, f, e, secret.Value{})
}

func (b *Broker) tokenRevokeSelf(ctx context.Context, c *call) (*Response, error) {
	return nil, b.revokeToken(ctx, c.entry.ID(), false, "revoke-self")
}

// tokenRevoke serves revoke and revoke-orphan (which leaves the children).
func (b *Broker) tokenRevoke(ctx context.Context, c *call) (*Response, error) {
	e, _, err := b.tokenArg(ctx, engine.Fields(c.req.Data))
	if err != nil {
		return nil, err
	}
	return nil, b.revokeToken(ctx, e.ID(), c.rest == "revoke-orphan", c.rest)
}

func (b *Broker) tokenRevokeAccessor(ctx context.Context, c *call) (*Response, error) {
	e, err := b.accessorArg(ctx, engine.Fields(c.req.Data))
	if err != nil {
		return nil, err
	}
	return nil, b.revokeToken(ctx, e.ID(), false, "revoke-accessor")
}
