// Package layers owns runcred's import layering: which packages form each
// layer, top to bottom, and what a layer must not depend on although it is
// not above it (the agent on the server). Check holds a package graph
// against the rules; the package's test holds the tree against them, so an
// import that points up fails the tests, not a later reader.
//
// Packages are named by path prefix below the module ("internal/platform"
// is that package and every package under it), so new packages inside a
// layer's directories are covered without an edit; a package in no layer
// is itself a violation, to be placed on purpose.
package layers

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Module is runcred's module path.
const Module = "github.com/runcred/runcred"

// Layer is a set of packages that may import one another and any layer
// below theirs, but no layer above.
type Layer struct {
	Name string
	// Packages are path prefixes below the module. "*test" is every package
	// whose last element ends in "test": the test support packages.
	Packages []string
	// MustNot are path prefixes the layer's packages must not depend on,
	// directly or through another package, though they are not above it.
	MustNot []string
	Why     string // why MustNot
}

// Rules are runcred's layers, top to bottom.
func Rules() []Layer {
	// server is every package that exists only in the server.
	server := []string{
		"internal/daemon", "internal/jobserver", "internal/platform", "internal/identity", "internal/broker",
		"internal/policy", "internal/audit", "internal/token", "internal/store", "internal/seal",
		"internal/access", "internal/respond", "internal/web", "internal/metrics",
	}
	return []Layer{
		// Above everything, so that only tests import them.
		{Name: "test support", Packages: []string{"*test", "internal/peers"}},
		{Name: "commands", Packages: []string{"cmd"}},
		{Name: "client and wiring", Packages: []string{"internal/cli", "internal/daemon"}},
		{Name: "agent", Packages: []string{"internal/agent"}, MustNot: server,
			Why: "the agent runs on other machines and reaches the server only over HTTP"},
		// The web UI: wired by the daemon, a client of the platform, broker,
		// audit and identity services as the platform API is.
		{Name: "web UI", Packages: []string{"internal/web"}},
		// Below the agent: the server speaks the agent protocol (internal/jobapi)
		// and never links the agent.
		{Name: "agent protocol server", Packages: []string{"internal/jobserver"}},
		{Name: "platform", Packages: []string{"internal/platform"}},
		{Name: "issuer and broker", Packages: []string{"internal/identity", "internal/broker"}},
		{Name: "policy, audit and tokens", Packages: []string{"internal/policy", "internal/audit", "internal/token"}},
		{Name: "storage, sealing and clouds", Packages: []string{"internal/store", "internal/seal", "internal/cloud"}},
		{Name: "agent protocol", Packages: []string{"internal/jobapi", "internal/credspec"}},
		{Name: "leaf helpers", Packages: []string{"internal/fail", "internal/respond", "internal/secret", "internal/access", "internal/layers", "internal/localca", "internal/runenv", "internal/configarchive", "internal/tfinput", "internal/metrics"}},
	}
}

// Package is a package of the module as `go list -json` describes it.
type Package struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // every package it depends on, directly or not
}

// Check returns every way pkgs break layers, one sentence each, sorted.
// Packages outside the module are ignored; tests' imports are not in pkgs.
func Check(layers []Layer, pkgs []Package) []string {
	var out []string
	for _, p := range pkgs {
		rel, ok := inModule(p.ImportPath)
		if !ok {
			continue
		}
		at := layerOf(layers, rel)
		if at < 0 {
			out = append(out, fmt.Sprintf("%s is in no layer: add it to the rules in internal/layers", rel))
			continue
		}
		l := layers[at]
		for _, imp := range p.Imports {
			irel, ok := inModule(imp)
			if !ok {
				continue
			}
			if i := layerOf(layers, irel); i >= 0 && i < at {
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s), a layer above it", rel, l.Name, irel, layers[i].Name))
			}
		}
		for _, dep := range p.Deps {
			drel, ok := inModule(dep)
			if !ok {
				continue
			}
			for _, no := range l.MustNot {
				if under(drel, no) {
					out = append(out, fmt.Sprintf("%s (%s) depends on %s: %s", rel, l.Name, drel, l.Why))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// layerOf is the index of the layer rel is in, -1 for none. The longest
// matching prefix decides; "*test" beats every prefix.
func layerOf(layers []Layer, rel string) int {
	at, best := -1, -1
	for i, l := range layers {
		for _, pat := range l.Packages {
			n := -1
			switch {
			case strings.HasPrefix(pat, "*"):
				if strings.HasSuffix(path.Base(rel), pat[1:]) {
					n = len(rel) + 1
				}
			case under(rel, pat):
				n = len(pat)
			}
			if n > best {
				at, best = i, n
			}
		}
	}
	return at
}

// under reports whether rel is the package prefix or one below it.
func under(rel, prefix string) bool {
	return rel == prefix || strings.HasPrefix(rel, prefix+"/")
}

// inModule is p's path below the module.
func inModule(p string) (string, bool) {
	return strings.CutPrefix(p, Module+"/")
}
