package engine

import (
	"context"
	"strings"
	"testing"
)

func TestTableMatch(t *testing.T) {
	// Handlers are names, so the test reads which route answered.
	tbl := NewTable("notfound", "unsupported",
		Route[string]{Path: Path{Pattern: "role/*"}, Operations: map[Operation]string{Read: "role prefix"}},
		Route[string]{Path: Path{Pattern: "role/+/secret-id"}, Operations: map[Operation]string{Update: "secret-id"}},
		Route[string]{Path: Path{Pattern: "role/+", Sudo: true}, Operations: map[Operation]string{Read: "role", Update: "role write"}},
		Route[string]{Path: Path{Pattern: "role/+/+"}, Operations: map[Operation]string{Update: "two names"}},
		Route[string]{Path: Path{Pattern: "role/"}, Operations: map[Operation]string{List: "list"}},
		Route[string]{Path: Path{Pattern: "login", Unauthenticated: true}, Operations: map[Operation]string{Update: "login"}},
		Route[string]{Path: Path{Pattern: "login/"}, Operations: map[Operation]string{Update: "login slash"}},
		Route[string]{Path: Path{Pattern: "strict"}, Operations: map[Operation]string{Read: "strict"}, Otherwise: "otherwise"},
		Route[string]{Path: Path{Pattern: "a/*"}, Operations: map[Operation]string{Read: "short prefix"}},
		Route[string]{Path: Path{Pattern: "a/b/*", Sudo: true}, Operations: map[Operation]string{Read: "long prefix"}},
		Route[string]{Path: Path{Pattern: "*"}, Operations: map[Operation]string{Patch: "catch-all"}},
	)
	for _, tc := range []struct {
		path         string
		op           Operation
		pattern      string // "" when no route matches
		handler      string
		unauth, sudo bool
	}{
		// Exact beats "+" beats prefix.
		{"role/", List, "role/", "list", false, false},
		{"role/x", Read, "role/+", "role", false, true},
		{"role/x/secret-id", Update, "role/+/secret-id", "secret-id", false, false},
		// More literal segments first among "+" patterns.
		{"role/x/other", Update, "role/+/+", "two names", false, false},
		// A route that does not serve the operation gives way to one that does...
		{"role/", Read, "role/*", "role prefix", false, false},
		{"role/x/secret-id", Read, "role/*", "role prefix", false, false},
		// ...and when none does, the first match answers as unsupported.
		{"role/x", Delete, "role/+", "unsupported", false, true},
		{"role/x/secret-id", Delete, "role/+/secret-id", "unsupported", false, false},
		// "+" matches exactly one segment.
		{"role/x/y/z", Update, "role/*", "unsupported", false, false},
		{"role/x/secret-id/", Update, "role/*", "unsupported", false, false},
		// "+" needs a non-empty segment.
		{"role//secret-id", Read, "role/*", "role prefix", false, false},
		// A create goes to the update handler when there is no create one.
		{"role/x", Create, "role/+", "role write", false, true},
		// Flags belong to the matched route only.
		{"login", Update, "login", "login", true, false},
		{"login/", Update, "login/", "login slash", false, false},
		{"login/x", Update, "*", "unsupported", false, false},
		// A route's own answer for other operations.
		{"strict", Update, "strict", "otherwise", false, false},
		// Longer prefixes first; "*" matches the empty rest.
		{"a/b/", Read, "a/b/*", "long prefix", false, true},
		{"a/bc", Read, "a/*", "short prefix", false, false},
		{"a/", Read, "a/*", "short prefix", false, false},
		{"a", Read, "*", "unsupported", false, false},
		{"zzz", Patch, "*", "catch-all", false, false},
		{"role/x", Patch, "*", "catch-all", false, false},
	} {
		r, h := tbl.Match(tc.path, tc.op)
		got := ""
		if r != nil {
			got = r.Pattern
		}
		if got != tc.pattern || h != tc.handler {
			t.Errorf("%s %q: route %q handler %q; want %q %q", tc.op, tc.path, got, h, tc.pattern, tc.handler)
		}
		p := tbl.PathOf(tc.path, tc.op)
		if p.Unauthenticated != tc.unauth || p.Sudo != tc.sudo {
			t.Errorf("%s %q: unauthenticated %v sudo %v; want %v %v", tc.op, tc.path, p.Unauthenticated, p.Sudo, tc.unauth, tc.sudo)
		}
	}
	none := NewTable("notfound", "unsupported", Route[string]{Path: Path{Pattern: "x"}})
	if r, h := none.Match("y", Read); r != nil || h != "notfound" || none.PathOf("y", Read).Pattern != "" {
		t.Errorf("no match: %v %q", r, h)
	}
}

func TestExists(t *testing.T) {
	ctx := context.Background()
	tbl := NewRoutes(
		Route[Handler]{Path: Path{Pattern: "role/+", Exists: func(context.Context, *Request) (bool, error) { return false, nil }},
			Operations: map[Operation]Handler{Update: NoRoute}},
		Route[Handler]{Path: Path{Pattern: "config"}, Operations: map[Operation]Handler{Update: NoRoute}},
	)
	for path, want := range map[string]bool{"role/x": false, "config": true, "nowhere": true} {
		if got, err := Exists(ctx, tbl, &Request{Path: path}); got != want || err != nil {
			t.Errorf("Exists(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
}

func TestNewTableRefusesMalformedPatterns(t *testing.T) {
	for _, p := range []string{"a/*/b", "+/x*"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("pattern %q accepted", p)
				}
			}()
			NewTable("", "", Route[string]{Path: Path{Pattern: p}})
		}()
	}
}

// FuzzMatch checks the matcher on any path: the route it picks matches the
// path by the plain reading of the pattern, and it serves the operation
// whenever any matching route does.
func FuzzMatch(f *testing.F) {
	patterns := []string{"login", "role", "role/", "role/+", "role/+/secret-id", "role/+/+", "role/*", "+", "+/+/x", "a/b/*", "*"}
	var routes []Route[string]
	for i, p := range patterns {
		ops := map[Operation]string{}
		if i%2 == 0 {
			ops[Read] = p
		} else {
			ops[Update] = p
		}
		routes = append(routes, Route[string]{Path: Path{Pattern: p}, Operations: ops})
	}
	tbl := NewTable("notfound", "unsupported", routes...)
	for _, s := range []string{"", "role", "role/", "role//", "role/x", "role/x/secret-id", "a/b/c", "//", "x/y/x"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, path string, read bool) {
		op := Update
		if read {
			op = Read
		}
		r, h := tbl.Match(path, op)
		if r != nil && !plainMatch(r.Pattern, path) {
			t.Fatalf("%q matched %q", path, r.Pattern)
		}
		served := false
		for _, rt := range routes {
			if _, ok := rt.Operations[op]; ok && plainMatch(rt.Pattern, path) {
				served = true
			}
		}
		if served != (h != "notfound" && h != "unsupported") {
			t.Fatalf("%s %q: handler %q, but a matching route serving it exists: %v", op, path, h, served)
		}
	})
}

// plainMatch is the pattern syntax read as simply as possible.
func plainMatch(pattern, path string) bool {
	if pre, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, pre)
	}
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i, s := range ps {
		if s == "+" && xs[i] == "" || s != "+" && s != xs[i] {
			return false
		}
	}
	return true
}
