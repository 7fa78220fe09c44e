package engine

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// Handler serves one operation of an engine's route.
type Handler func(ctx context.Context, req *Request) (*Response, error)

// Path is what the core asks of a route before any handler runs: whether
// the path needs a token, whether it needs sudo, and whether a write
// creates or updates. The zero Path is an ordinary authenticated path whose
// writes are updates, which is what a path no route matches gets.
type Path struct {
	// Pattern is relative to the mount. A "+" segment matches one non-empty
	// segment; a trailing "*" matches any rest of the path, including
	// nothing. Anything else matches itself.
	Pattern string
	// Unauthenticated paths need no token (logins, sys/health).
	Unauthenticated bool
	// Sudo paths need the sudo capability on top of the operation's
	// (Vault's root-protected paths).
	Sudo bool
	// Exists tells create from update for a write, for the ACL check
	// (Vault's existence check). Nil: every write is an update.
	Exists func(ctx context.Context, req *Request) (bool, error)
	// Unaudited paths skip the token and the audit log entirely. Only the
	// core's sys/health and sys/seal-status are.
	Unaudited bool
	// SelfAuthorized paths are let past the ACL check because their
	// handler checks access itself (sys/internal/ui/mounts/*).
	SelfAuthorized bool
	// StorageOnly says that serving the path changes nothing but the
	// mount's storage and what the response issues (a token); it may read
	// elsewhere (a JWT login fetches the issuer's keys). The request's
	// audit record is then written before the first change to storage,
	// or, when there is none, with the response's record in one commit:
	// until then nothing has happened that the log must show.
	StorageOnly bool
}

// Route is one entry of a route table: a path and its handlers. H is the
// handler type: Handler for engines, the core's own for sys/ and
// auth/token/.
type Route[H any] struct {
	Path
	Operations map[Operation]H
	// Otherwise answers the operations the route does not serve; nil
	// leaves it to the table.
	Otherwise H
}

// Table is a route table ordered for matching: exact paths first, then
// "+" patterns (more literal segments first), then prefixes (longest
// first); ties keep their declared order.
type Table[H any] struct {
	routes   []Route[H]
	notFound H
}

// NewTable orders routes for matching. notFound answers a path no route
// matches; unsupported an operation the matched route does not serve
// (unless the route has its own Otherwise). It panics on a malformed
// pattern: tables are written in code.
func NewTable[H any](notFound, unsupported H, routes ...Route[H]) *Table[H] {
	for _, r := range routes {
		if i := strings.Index(r.Pattern, "*"); i >= 0 && i != len(r.Pattern)-1 {
			panic("engine: \"*\" must end a route pattern: " + r.Pattern)
		}
		if strings.HasSuffix(r.Pattern, "*") && strings.Contains(r.Pattern, "+") {
			panic("engine: a prefix route cannot have \"+\" segments: " + r.Pattern)
		}
	}
	sorted := slices.Clone(routes)
	for i := range sorted {
		if v := reflect.ValueOf(sorted[i].Otherwise); !v.IsValid() || v.IsZero() {
			sorted[i].Otherwise = unsupported
		}
	}
	slices.SortStableFunc(sorted, func(a, b Route[H]) int {
		ka, la := rank(a.Pattern)
		kb, lb := rank(b.Pattern)
		return cmp.Or(cmp.Compare(ka, kb), cmp.Compare(lb, la))
	})
	return &Table[H]{routes: sorted, notFound: notFound}
}

// rank is a pattern's class (0 exact, 1 with "+", 2 prefix) and how much
// of it is literal, which orders patterns within a class.
func rank(p string) (class, literal int) {
	switch {
	case strings.HasSuffix(p, "*"):
		return 2, len(p) - 1
	case strings.Contains(p, "+"):
		n := 0
		for _, s := range strings.Split(p, "/") {
			if s != "+" {
				n++
			}
		}
		return 1, n
	}
	return 0, len(p)
}

// matches reports whether pattern matches path.
func matches(pattern, path string) bool {
	if pre, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, pre)
	}
	if !strings.Contains(pattern, "+") {
		return pattern == path
	}
	for { // segment by segment, without allocating: this runs on every request
		p, pRest, pMore := strings.Cut(pattern, "/")
		x, xRest, xMore := strings.Cut(path, "/")
		if p == "+" && x == "" || p != "+" && p != x || pMore != xMore {
			return false
		}
		if !pMore {
			return true
		}
		pattern, path = pRest, xRest
	}
}

// Match finds the route for op on path and the handler to run. The route
// is the first (in matching order) that matches path and serves op, else
// the first that matches path; it is nil when none does. A create the route
// does not serve goes to its update handler: only routes with an existence
// check tell the two apart.
func (t *Table[H]) Match(path string, op Operation) (*Route[H], H) {
	var first *Route[H]
	for i := range t.routes {
		r := &t.routes[i]
		if !matches(r.Pattern, path) {
			continue
		}
		if h, ok := r.handler(op); ok {
			return r, h
		}
		if first == nil {
			first = r
		}
	}
	if first == nil {
		return nil, t.notFound
	}
	return first, first.Otherwise
}

func (r *Route[H]) handler(op Operation) (H, bool) {
	h, ok := r.Operations[op]
	if !ok && op == Create {
		h, ok = r.Operations[Update]
	}
	return h, ok
}

// PathOf returns what the core asks of op on path: the matched route's
// Path, or the zero Path when no route matches.
func (t *Table[H]) PathOf(path string, op Operation) Path {
	if r, _ := t.Match(path, op); r != nil {
		return r.Path
	}
	return Path{}
}

// Every maps all operations to h, for a route whose handler sorts them
// out itself.
func Every[H any](h H) map[Operation]H {
	return map[Operation]H{Read: h, Create: h, Update: h, Delete: h, List: h, Patch: h}
}

// Routes is an engine's route table.
type Routes = Table[Handler]

// NewRoutes orders an engine's routes. A path no route matches is Vault's
// 404 "no handler for route"; an operation a route does not serve is 405.
func NewRoutes(routes ...Route[Handler]) *Routes {
	return NewTable[Handler](NoRoute, Unsupported, routes...)
}

// Serve runs req through the handler its route table picks.
func Serve(ctx context.Context, t *Routes, req *Request) (*Response, error) {
	_, h := t.Match(req.Path, req.Operation)
	return h(ctx, req)
}

// Exists is the existence check of the route req's path matches: whether
// a write there updates (true) or creates (false).
func Exists(ctx context.Context, t *Routes, req *Request) (bool, error) {
	p := t.PathOf(req.Path, Update)
	if p.Exists == nil {
		return true, nil
	}
	return p.Exists(ctx, req)
}

// NoRoute is Vault's answer to a path no route matches.
func NoRoute(_ context.Context, req *Request) (*Response, error) {
	return nil, fail.NotFoundf(`no handler for route "%s". route entry not found.`, req.MountPath+req.Path)
}

// Unsupported is Vault's answer to an operation a route does not serve.
func Unsupported(context.Context, *Request) (*Response, error) {
	return nil, fail.Unsupportedf("unsupported operation")
}
