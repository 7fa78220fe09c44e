package policy

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestLibraryStrict compiles the library, tests included, in OPA's strict
// mode (opa check --strict): no unused variables, arguments or imports.
func TestLibraryStrict(t *testing.T) {
	modules := map[string]*ast.Module{}
	for name, src := range LibraryFiles() {
		if name == ConfigHCL {
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[name] = m
	}
	c := ast.NewCompiler().WithStrict(true).WithCapabilities(capabilities())
	if c.Compile(modules); c.Failed() {
		for _, e := range c.Errors {
			t.Error(e)
		}
	}
}
