package approle

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// handler serves one operation; name is the role named in the path ("" on
// paths outside role/).
type handler func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error)

// paths is the method's route table: the login (no token needed), the
// tidy, and the roles with what hangs under them. A trailing "/" is
// ignored, as Vault's AppRole paths allow one; "login/" still needs a token.
// A create is served by the update handler wherever a route has none: only
// role/<name> tells them apart.
func (b *Backend) paths() *engine.Routes {
	type route = engine.Route[engine.Handler]
	type ops = map[engine.Operation]handler
	type p = engine.Path
	subpaths := map[string]bool{} // what may follow role/<name>/
	role := func(pattern string, o ops, exists func(context.Context, *engine.Request) (bool, error)) route {
		subpaths[strings.TrimPrefix(strings.TrimPrefix(pattern, "role/+"), "/")] = true
		r := route{Path: p{Pattern: pattern, Exists: exists}, Operations: map[engine.Operation]engine.Handler{},
			Otherwise: named(func(context.Context, *engine.Request, string) (*engine.Response, error) {
				return nil, fail.Unsupportedf("unsupported operation")
			})}
		for op, h := range o {
			r.Operations[op] = named(h)
		}
		return r
	}
	self := role("role/+", ops{engine.Read: b.readRole, engine.Create: b.writeRole, engine.Update: b.writeRole, engine.Delete: b.deleteRole}, b.roleExists)
	routes := []route{
		{Path: p{Pattern: "login", Unauthenticated: true, StorageOnly: true}, Operations: map[engine.Operation]engine.Handler{engine.Update: plain(b.login)}},
		{Path: p{Pattern: "tidy/secret-id"}, Operations: map[engine.Operation]engine.Handler{engine.Update: plain(b.tidy)}},
		{Path: p{Pattern: "role"}, Operations: map[engine.Operation]engine.Handler{engine.List: plain(b.listRoles)}},
		self,
		role("role/+/role-id", ops{engine.Read: b.readRoleID, engine.Update: b.writeRoleID}, nil),
		role("role/+/secret-id", ops{engine.Update: b.issueSecretID, engine.List: b.listSecretIDs}, nil),
		role("role/+/custom-secret-id", ops{engine.Update: b.issueCustomSecretID}, nil),
		role("role/+/secret-id/lookup", ops{engine.Update: b.lookupSecretID}, nil),
		role("role/+/secret-id/destroy", ops{engine.Update: b.destroySecretID, engine.Delete: b.destroySecretID}, nil),
		role("role/+/secret-id-accessor/lookup", ops{engine.Update: b.lookupAccessor}, nil),
		role("role/+/secret-id-accessor/destroy", ops{engine.Update: b.destroyAccessor, engine.Delete: b.destroyAccessor}, nil),
	}
	for _, field := range slices.Sorted(maps.Keys(fieldEndpoints)) {
		fe := fieldEndpoints[field]
		routes = append(routes, role("role/+/"+field, ops{
			engine.Read: func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
				return b.readField(ctx, req, name, fe)
			},
			engine.Update: func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
				return b.writeField(ctx, req, name, fe)
			},
			engine.Delete: func(ctx context.Context, req *engine.Request, name string) (*engine.Response, error) {
				return b.resetField(ctx, req, name, fe)
			},
		}, nil))
	}
	for _, r := range slices.Clone(routes) {
		r.Pattern += "/"
		r.Unauthenticated = false
		routes = append(routes, r)
	}
	// role/<name>// is the role too: with one trailing "/" ignored, what
	// follows the name is empty or "/". Its writes are updates.
	self.Pattern = "role/+//"
	routes = append(routes, self)
	// An empty role name ("role//secret-id") matches no "+" segment; it is
	// a bad name on the paths a name would make valid, and no route on the
	// others.
	routes = append(routes, route{Path: p{Pattern: "role/*", Exists: b.roleExists},
		Otherwise: func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
			name, rest, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(req.Path, "/"), "role/"), "/")
			if subpaths[rest] {
				if err := checkName(name); err != nil {
					return nil, err
				}
			}
			return engine.NoRoute(ctx, req)
		}})
	return engine.NewRoutes(routes...)
}

// plain serves a path outside role/.
func plain(h handler) engine.Handler {
	return func(ctx context.Context, req *engine.Request) (*engine.Response, error) { return h(ctx, req, "") }
}

// named passes a role route's handler the role name, checked first.
func named(h handler) engine.Handler {
	return func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
		name, _, _ := strings.Cut(strings.TrimPrefix(req.Path, "role/"), "/")
		if err := checkName(name); err != nil {
			return nil, err
		}
		return h(ctx, req, name)
	}
}

// checkName checks a role name in a path. ACL policies match the path as
// sent, so a deny on role/admin must not be passed by writing role/ADMIN:
// names in paths are lower case.
func checkName(name string) error {
	if err := validRoleName(name); err != nil {
		return err
	}
	if lower := strings.ToLower(name); lower != name {
		return fail.Invalidf("role names are case-insensitive and must be given in lower case: use %q", lower)
	}
	return nil
}

// roleExists tells a role create from a role update: only role/<name>
// (with one trailing "/" ignored) is told apart; every other write under
// role/ is an update.
func (b *Backend) roleExists(ctx context.Context, req *engine.Request) (bool, error) {
	parts := strings.Split(strings.TrimSuffix(req.Path, "/"), "/")
	if len(parts) != 2 || parts[0] != "role" {
		return true, nil
	}
	if validRoleName(parts[1]) != nil {
		return false, nil
	}
	r, err := loadRole(ctx, req.Storage, strings.ToLower(parts[1]))
	return r != nil, err
}
