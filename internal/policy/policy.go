package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/runcred/runcred/internal/fail"
)

// Level is a policy's enforcement level. It lives outside the Rego so the
// same policy can be deployed at different levels.
type Level string

const (
	// Advisory failures are reported and never stop a run.
	Advisory Level = "advisory"
	// Mandatory failures stop a run; when the set is overridable, a holder
	// of the manage-policy-overrides permission may override them.
	Mandatory Level = "mandatory"
	// HardMandatory failures stop a run and nobody can override them, not
	// even in an overridable set.
	HardMandatory Level = "hard-mandatory"
)

// ParseLevel reads an enforcement level; "" is advisory, as in HCP
// Terraform.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case "":
		return Advisory, nil
	case Advisory, Mandatory, HardMandatory:
		return l, nil
	}
	return "", fail.Invalidf("enforcement level %q is not one of advisory, mandatory, hard-mandatory", fail.Clip(s))
}

// Policy is one named check of a set.
type Policy struct {
	Name string
	// Query names the rule whose value decides the policy, by HCP
	// Terraform's convention data.terraform.policies.<name>.deny. It must
	// be a reference into data; its value must be an array (a set rule is
	// one): empty passes, each element is a violation.
	Query string
	// Source is the policy's own Rego module, when the policy carries one
	// (policies created through the API do); "" when its rules live in the
	// set's Modules (sets uploaded as a directory or archive).
	Source string
	Level  Level
	// Description is shown with the policy's results.
	Description string
}

// Set is one version of a policy set, immutable once built: a new edit is
// a new Version.
type Set struct {
	ID      string
	Version string
	// Overridable lets mandatory failures be overridden. It never covers
	// hard-mandatory failures or errors.
	Overridable bool
	Policies    []Policy
	// Modules are Rego files that are not one policy's Source (helpers and
	// policies of an uploaded set), by file name.
	Modules map[string]string
	// Params are the set's parameters; policies read them as data.params.
	Params map[string]any
}

// ParamsPath is where a set's parameters appear to its policies.
const ParamsPath = "data.params"

// reservedPackage is the prefix of the package the engine generates to
// query every policy of a set at once; no module of a set may use it.
const reservedPackage = "runcred.internal"

var policyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Validate checks what can be checked without compiling: names, levels,
// queries, reserved packages. It does not parse Rego; the engine does, and
// a set that fails there fails its check rather than being refused, so
// that a broken version already stored never passes.
func (s *Set) Validate() error {
	if len(s.Policies) == 0 {
		return fail.Invalidf("policy set %q has no policies", fail.Clip(s.ID))
	}
	seen := map[string]bool{}
	for i, p := range s.Policies {
		if !policyName.MatchString(p.Name) {
			return fail.Invalidf("policies[%d]: name %q must be 1-128 letters, digits, '_', '-' or '.'", i, fail.Clip(p.Name))
		}
		if seen[p.Name] {
			return fail.Invalidf("policy %q: name used twice", p.Name)
		}
		seen[p.Name] = true
		if _, err := ParseLevel(string(p.Level)); err != nil {
			return fail.Invalidf("policy %q: enforcement_level %q is not one of advisory, mandatory, hard-mandatory", p.Name, fail.Clip(string(p.Level)))
		}
		if _, err := queryRef(p.Query); err != nil {
			return fail.Invalidf("policy %q: query: %s", p.Name, fail.Message(err))
		}
	}
	for name := range s.Modules {
		if !fs.ValidPath(name) || name == "." {
			return fail.Invalidf("module name %q is not a relative slash-separated path", fail.Clip(name))
		}
	}
	for _, p := range s.Policies {
		if _, dup := s.Modules[p.Name+".rego"]; dup && p.Source != "" {
			return fail.Invalidf("module %q has the name of policy %q's own source", p.Name+".rego", p.Name)
		}
	}
	return nil
}

// files are the set's Rego modules by file name: Modules plus each
// policy's Source as "<name>.rego".
func (s *Set) files() map[string]string {
	out := make(map[string]string, len(s.Modules)+len(s.Policies))
	for n, src := range s.Modules {
		out[n] = src
	}
	for _, p := range s.Policies {
		if p.Source != "" {
			out[p.Name+".rego"] = p.Source
		}
	}
	return out
}

// digest identifies the set's content, so that a cache keyed by it never
// serves a compilation of other content under a reused version string.
func (s *Set) digest() (string, error) {
	files := s.files()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s", len(p), p)
		}
	}
	write(s.ID, s.Version, fmt.Sprint(s.Overridable))
	for _, n := range names {
		write("module", n, files[n])
	}
	for _, p := range s.Policies {
		write("policy", p.Name, p.Query, string(p.Level))
	}
	params, err := json.Marshal(s.Params) // map keys are sorted
	if err != nil {
		return "", fail.Invalidf("policy set %q: parameters are not JSON: %v", fail.Clip(s.ID), err)
	}
	write("params", string(params))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// queryRef reads a policy query: a reference into data, such as
// data.terraform.policies.<name>.deny.
func queryRef(q string) (ast.Ref, error) {
	if strings.TrimSpace(q) == "" {
		return nil, fail.Invalidf("is empty")
	}
	ref, err := ast.ParseRef(q)
	if err != nil {
		return nil, fail.Invalidf("%q is not a Rego reference such as data.terraform.policies.<name>.deny", fail.Clip(q))
	}
	if !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 {
		return nil, fail.Invalidf("%q must refer into data, such as data.terraform.policies.<name>.deny", fail.Clip(q))
	}
	if !ref.IsGround() {
		return nil, fail.Invalidf("%q must not contain variables", fail.Clip(q))
	}
	return ref, nil
}
