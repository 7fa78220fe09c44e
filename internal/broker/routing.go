package broker

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// router is a mount's route table as the pipeline sees it: the core's own
// (sys/, auth/token/) or an engine's. Which paths need no token, which need
// sudo and how a write tells create from update all come from the route a
// path matches, so the pipeline never asks what kind of mount it is.
type router interface {
	// path is what the pipeline asks of op on rest before it runs.
	path(rest string, op engine.Operation) engine.Path
	serve(ctx context.Context, c *call) (*Response, error)
	// textOnly reports whether the mount stores request strings in text
	// columns, which cannot hold NUL in PostgreSQL. Engines keep their
	// data sealed, so theirs may.
	textOnly() bool
}

// coreHandler serves one operation of a core route.
type coreHandler func(ctx context.Context, c *call) (*Response, error)

// coreRoutes is the route table of one of the core's own mounts.
type coreRoutes struct {
	table *engine.Table[coreHandler]
	// sys marks sys/ responses, whose data keys Vault also copies to the
	// top level of the JSON.
	sys bool
}

func (r *coreRoutes) path(rest string, op engine.Operation) engine.Path {
	return r.table.PathOf(rest, op)
}

func (r *coreRoutes) serve(ctx context.Context, c *call) (*Response, error) {
	_, h := r.table.Match(c.rest, c.op)
	resp, err := h(ctx, c)
	if resp != nil {
		resp.sys = r.sys
	}
	return resp, err
}

func (r *coreRoutes) textOnly() bool { return true }

func coreNoRoute(_ context.Context, c *call) (*Response, error) { return nil, noRoute(c.req.Path) }

func coreUnsupported(context.Context, *call) (*Response, error) {
	return nil, fail.Unsupportedf("unsupported operation")
}

// engineRoutes is a mounted engine's route table.
type engineRoutes struct {
	b  *Broker
	be engine.Backend
}

func (r engineRoutes) path(rest string, op engine.Operation) engine.Path {
	return r.be.Routes().PathOf(rest, op)
}

func (r engineRoutes) serve(ctx context.Context, c *call) (*Response, error) {
	if c.op == engine.List && c.rest != "" && !strings.HasSuffix(c.rest, "/") {
		c.rest += "/"
	}
	var st engine.Storage = r.b.storage(c.m.UUID, r.be)
	if c.requestPending {
		st = &recordFirst{Storage: st, record: func() error { return r.b.recordRequest(ctx, c) }}
	}
	er, err := engine.Serve(ctx, r.be.Routes(), c.engineRequest(st))
	if err != nil {
		return nil, err
	}
	return r.b.finish(ctx, c, er)
}

func (r engineRoutes) textOnly() bool { return false }

// router returns the route table of mount m: the core's own for its
// built-in mounts, else that of the mount's engine, built on first use.
func (b *Broker) router(ctx context.Context, m *mount) (router, error) {
	if r, ok := b.core[m.Type]; ok {
		return r, nil
	}
	be, err := b.backend(ctx, m)
	if err != nil {
		return nil, err
	}
	return engineRoutes{b: b, be: be}, nil
}
