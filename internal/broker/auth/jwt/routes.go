package jwt

import (
	"context"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
)

// paths is the method's route table: the login (no token needed), the
// config, and the roles. Only role writes tell create from update.
func (b *Backend) paths() *engine.Routes {
	type route = engine.Route[engine.Handler]
	type ops = map[engine.Operation]engine.Handler
	type p = engine.Path
	return engine.NewRoutes(
		// A create is served by the update handler wherever a route has none.
		route{Path: p{Pattern: "login", Unauthenticated: true, StorageOnly: true}, Operations: ops{engine.Update: b.login}},
		route{Path: p{Pattern: "config"}, Operations: ops{engine.Read: b.readConfig, engine.Update: b.writeConfig}},
		route{Path: p{Pattern: "role"}, Operations: ops{engine.List: listRoles}},
		route{Path: p{Pattern: "role/", Exists: roleExists}, Operations: ops{engine.List: listRoles}},
		route{Path: p{Pattern: "role/+", Exists: roleExists},
			Operations: ops{engine.Read: named(readRole), engine.Update: named(b.writeRole), engine.Delete: named(deleteRole)},
			// A bad name is reported before the operation.
			Otherwise: named(func(context.Context, *engine.Request, string) (*engine.Response, error) { return nil, unsupported() })},
		// Deeper paths under role/ have no handler, but a write there is
		// still a create of a role that cannot exist.
		route{Path: p{Pattern: "role/*", Exists: roleExists}, Otherwise: engine.NoRoute},
	)
}

// named passes a role route's handler the role name from the path.
func named(h func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error)) engine.Handler {
	return func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
		name, err := pathRoleName(strings.TrimPrefix(req.Path, "role/"))
		if err != nil {
			return nil, err
		}
		return h(ctx, req, name)
	}
}

func deleteRole(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
	return nil, req.Storage.Delete(ctx, roleKeyPrefix+name)
}

// roleExists tells the core whether a write to a role creates or updates it.
func roleExists(ctx context.Context, req *engine.Request) (bool, error) {
	name, err := roleName(strings.TrimPrefix(req.Path, "role/"))
	if err != nil {
		return false, nil // the write itself reports the bad name
	}
	r, err := loadRole(ctx, req.Storage, name)
	if err != nil {
		return false, err
	}
	return r != nil, nil
}
