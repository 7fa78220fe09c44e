package aws

import (
	"context"
	"regexp"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
)

// roleName is Vault's GenericNameWithAtRegex: word characters, with "-",
// "." and "@" allowed inside.
var roleName = regexp.MustCompile(`^\w(?:[\w.@-]*\w)?$`)

// paths is the engine's route table: the root credentials and lease
// settings, the roles, and the credentials a role gives (creds/ and its
// alias sts/). No path needs sudo or goes without a token, and every write
// is an update: the engine has no existence check.
func (b *Backend) paths() *engine.Routes {
	type route = engine.Route[engine.Handler]
	type ops = map[engine.Operation]engine.Handler
	type p = engine.Path
	creds := ops{engine.Read: named(b.creds), engine.Update: named(b.creds)}
	return engine.NewRoutes(
		// A create is served by the update handler wherever a route has none.
		route{Path: p{Pattern: "config/root"}, Operations: ops{engine.Read: b.readRoot, engine.Update: b.writeRoot}},
		route{Path: p{Pattern: "config/lease"}, Operations: ops{engine.Read: b.readLease, engine.Update: b.writeLease}},
		route{Path: p{Pattern: "roles"}, Operations: ops{engine.List: b.listRoles}},
		route{Path: p{Pattern: "roles/"}, Operations: ops{engine.List: b.listRoles}},
		route{Path: p{Pattern: "roles/+"}, Operations: ops{engine.Read: named(b.readRole), engine.Update: named(b.writeRole),
			engine.Delete: named(b.deleteRole)}, Otherwise: named(unsupported)},
		route{Path: p{Pattern: "creds/+"}, Operations: creds, Otherwise: named(unsupported)},
		route{Path: p{Pattern: "sts/+"}, Operations: creds, Otherwise: named(unsupported)},
	)
}

// named passes a role's handler the role name, the path's last segment. A
// name Vault's pattern does not accept is a path with no route.
func named(h func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error)) engine.Handler {
	return func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
		name := req.Path[strings.LastIndex(req.Path, "/")+1:]
		if !roleName.MatchString(name) {
			return engine.NoRoute(ctx, req)
		}
		return h(ctx, req, name)
	}
}

func unsupported(ctx context.Context, req *engine.Request, _ string) (*engine.Response, error) {
	return engine.Unsupported(ctx, req)
}
