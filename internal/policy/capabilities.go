package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Denied are the built-ins a policy cannot call: those that reach the
// network or the host. Compiling a module that calls one fails, so a
// policy cannot send the plan anywhere or learn about the server.
//
// net.cidr_* and the other net.* functions are pure arithmetic on strings
// and stay: only net.lookup_ip_addr resolves names. print and trace write
// nowhere (the engine installs no print hook or tracer), and
// rego.parse_module only parses its argument, so they stay too.
var Denied = []string{
	"http.send",          // network
	"net.lookup_ip_addr", // DNS
	"opa.runtime",        // the server's environment and configuration
}

// capabilities are this OPA version's capabilities less Denied, and with
// no host allowed for any network built-in, should one be added later.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(slices.Clone(c.Builtins), func(b *ast.Builtin) bool {
		return slices.Contains(Denied, b.Name)
	})
	c.AllowNet = []string{}
	return c
}
