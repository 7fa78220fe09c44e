package acl

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"

	"github.com/runcred/runcred/internal/fail"
)

// Policy is one parsed ACL policy. Only Parse builds its rules; a Policy
// made by hand grants nothing.
type Policy struct {
	Name string // normalised (see NormalizeName)
	// Raw is the policy text after base64 decoding, which is what Vault
	// stores and returns from GET sys/policies/acl/:name.
	Raw   string
	rules []*rule
}

// Patterns lists the path patterns of the policy in the order written,
// for diagnostics and the resultant-ACL view.
func (p *Policy) Patterns() []string {
	out := make([]string, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.pattern
	}
	return out
}

// ruleKind says which of Vault's three rule tables a pattern belongs to.
// The kind is a function of the pattern text alone, so one pattern string
// always lands in the same table and merging by pattern is merging by key.
type ruleKind uint8

const (
	kindExact   ruleKind = iota // no glob: matches the path itself
	kindPrefix                  // trailing "*" and no "+" segment
	kindSegment                 // has a "+" segment, maybe a trailing "*"
)

// rule is one path block, compiled for matching.
type rule struct {
	pattern string // as written, leading "/" removed; the merge key
	kind    ruleKind
	perm    perms

	// Precomputed for matching. prefix is the pattern without its trailing
	// "*". For segment rules, parts is prefix split on "/", firstWild the
	// index of the first "+" in the pattern and wildcards the number of "+"
	// segments: the inputs to Vault's ranking.
	prefix    string
	isPrefix  bool
	parts     []string
	firstWild int
	wildcards int
}

// perms is what a rule grants; it is what merging combines.
type perms struct {
	caps     capSet
	allowed  map[string][]any
	denied   map[string][]any
	required []string
	minWrap  time.Duration
	maxWrap  time.Duration
}

// NormalizeName is Vault's policy name normalisation: policies are stored
// and compared lower-cased and trimmed, so " Root" and "ROOT" are "root"
// (CVE-2025-5999 came from comparing names before normalising them).
func NormalizeName(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// Parse parses a policy written in Vault's HCL or JSON policy syntax,
// optionally base64 encoded, as PUT sys/policies/acl/:name accepts it.
// Every error is a fail.Invalid with a message safe to show the client.
func Parse(name, text string) (*Policy, error) {
	name = NormalizeName(name)
	if name == "" {
		return nil, fail.Invalidf("policy name must be provided in the URL")
	}
	for _, n := range immutableNames {
		if name == n {
			return nil, fail.Invalidf("cannot update %q policy", name)
		}
	}
	if text == "" {
		return nil, fail.Invalidf("'policy' parameter not supplied or empty")
	}

	// Vault accepts the body base64 encoded. Policy text always contains
	// characters outside the base64 alphabet, so a text that decodes is
	// almost surely encoded; still fall back to the text as given when the
	// decoded bytes are not a valid policy.
	if b, err := base64.StdEncoding.DecodeString(text); err == nil && len(b) > 0 && utf8.Valid(b) {
		if rules, err := parseRules(string(b)); err == nil {
			return &Policy{Name: name, Raw: string(b), rules: rules}, nil
		}
	}
	rules, err := parseRules(text)
	if err != nil {
		return nil, err
	}
	return &Policy{Name: name, Raw: text, rules: rules}, nil
}

func parseErr(format string, args ...any) error {
	return fail.Invalidf("failed to parse policy: "+format, args...)
}

// parseRules turns policy text into rules. The hcl v1 parser and decoder
// panic on some malformed input (bad escapes, odd literals); a policy is
// untrusted client input, so a panic becomes a parse error instead of a
// crashed server.
func parseRules(text string) (rules []*rule, err error) {
	defer func() {
		if r := recover(); r != nil {
			rules, err = nil, parseErr("malformed policy")
		}
	}()

	if tooDeep(text) {
		return nil, parseErr("nested more than %d levels deep", maxNesting)
	}
	file, err := hcl.Parse(text)
	if err != nil {
		return nil, parseErr("%s", err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, parseErr("does not contain a root object")
	}
	for _, item := range list.Items {
		key, line := itemKey(item)
		switch key {
		case "name":
			// Allowed for Vault compatibility; the URL names the policy.
		case "path":
			r, err := parsePath(item, line)
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		default:
			return nil, parseErr("invalid key %q%s", key, onLine(line))
		}
	}
	return rules, nil
}

// maxNesting bounds bracket nesting before text reaches the hcl parser,
// which slows down quadratically or worse with depth: four thousand
// unclosed "[" take seconds. Real policies nest four or five levels.
const maxNesting = 32

// tooDeep reports whether brackets outside strings and comments nest more
// than maxNesting deep. It errs towards counting: a bracket it sees that
// hcl would not only makes it stricter.
func tooDeep(text string) bool {
	depth := 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '"':
			// A string ends at its closing quote or, as in hcl, at a newline.
			for i++; i < len(text) && text[i] != '"' && text[i] != '\n'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case '#':
			i = skipTo(text, i, "\n")
		case '/':
			if strings.HasPrefix(text[i:], "//") {
				i = skipTo(text, i, "\n")
			} else if strings.HasPrefix(text[i:], "/*") {
				i = skipTo(text, i+2, "*/")
			}
		case '[', '{', '(':
			if depth++; depth > maxNesting {
				return true
			}
		case ']', '}', ')':
			if depth > 0 {
				depth--
			}
		}
	}
	return false
}

// skipTo returns the index of the last byte of the first end at or after
// i, or len(text) when there is none.
func skipTo(text string, i int, end string) int {
	j := strings.Index(text[i:], end)
	if j < 0 {
		return len(text)
	}
	return i + j + len(end) - 1
}

// onLine names a line for an error; the JSON parser records none.
func onLine(line int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf(" on line %d", line)
}

func itemKey(item *ast.ObjectItem) (string, int) {
	if len(item.Keys) == 0 {
		return "", 0
	}
	t := item.Keys[0].Token
	return fmt.Sprint(t.Value()), t.Pos.Line
}

// pathBlock is the HCL shape of one path block.
type pathBlock struct {
	Policy             string           `hcl:"policy"`
	Capabilities       []string         `hcl:"capabilities"`
	AllowedParameters  map[string][]any `hcl:"allowed_parameters"`
	DeniedParameters   map[string][]any `hcl:"denied_parameters"`
	RequiredParameters []string         `hcl:"required_parameters"`
	MinWrappingTTL     any              `hcl:"min_wrapping_ttl"`
	MaxWrappingTTL     any              `hcl:"max_wrapping_ttl"`
}

var pathKeys = map[string]bool{
	"comment": true, "policy": true, "capabilities": true,
	"allowed_parameters": true, "denied_parameters": true, "required_parameters": true,
	"min_wrapping_ttl": true, "max_wrapping_ttl": true,
}

// Keys Vault or OpenBao accept that runcred does not implement. Accepting
// them silently would let an operator believe MFA or expiry is enforced.
var unsupportedPathKeys = map[string]bool{
	"mfa_methods": true, "control_group": true, "expiration": true,
	"pagination_limit": true, "list_scan_response_keys_filter_path": true,
	"subscribe_event_types": true,
}

func parsePath(item *ast.ObjectItem, line int) (*rule, error) {
	if len(item.Keys) != 2 {
		// path { ... } or path "a" "b" { ... }: Vault would quietly use the
		// word "path" or the first label as the pattern.
		return nil, parseErr("path%s must be a block with one quoted pattern", onLine(line))
	}
	pattern := fmt.Sprint(item.Keys[1].Token.Value())
	obj, ok := item.Val.(*ast.ObjectType)
	if !ok {
		return nil, parseErr("path %q: expected a block", pattern)
	}
	seen := make(map[string]bool, len(obj.List.Items))
	for _, it := range obj.List.Items {
		key, line := itemKey(it)
		switch {
		case unsupportedPathKeys[key]:
			return nil, parseErr("path %q: %q%s is not supported", pattern, key, onLine(line))
		case !pathKeys[key]:
			return nil, parseErr("path %q: invalid key %q%s", pattern, key, onLine(line))
		case seen[key]:
			// hcl v1 would merge repeated lists element by element.
			return nil, parseErr("path %q: duplicate key %q%s", pattern, key, onLine(line))
		}
		seen[key] = true
	}
	var b pathBlock
	if err := hcl.DecodeObject(&b, obj); err != nil {
		return nil, parseErr("path %q: %s", pattern, err)
	}

	if strings.Contains(pattern, "{{") {
		return nil, parseErr("path %q: templated policies are not supported", pattern)
	}
	pattern = strings.TrimPrefix(pattern, "/")
	if strings.Contains(pattern, "+*") {
		return nil, parseErr("path %q: invalid use of wildcards ('+*' is forbidden)", pattern)
	}

	r := &rule{pattern: pattern}
	if err := r.setCapabilities(b.Policy, b.Capabilities); err != nil {
		return nil, err
	}
	if !r.perm.caps.has(capDeny) {
		// A deny rule carries no constraints: Vault skips them.
		if err := r.setConstraints(&b); err != nil {
			return nil, err
		}
	}
	r.compile()
	return r, nil
}

// legacyPolicies maps the pre-capabilities `policy = "..."` strings as
// Vault does. Vault's "write" does not include patch.
var legacyPolicies = map[string]capSet{
	"deny":  capDeny,
	"read":  capRead | capList,
	"write": capCreate | capRead | capUpdate | capDelete | capList,
	"sudo":  capCreate | capRead | capUpdate | capDelete | capList | capSudo,
}

func (r *rule) setCapabilities(legacy string, names []string) error {
	var caps capSet
	if legacy != "" {
		c, ok := legacyPolicies[legacy]
		if !ok {
			return parseErr("path %q: invalid policy %q", r.pattern, legacy)
		}
		caps = c
	}
	for _, n := range names {
		c, ok := capByName[n]
		if !ok {
			return parseErr("path %q: invalid capability %q", r.pattern, n)
		}
		caps |= c
	}
	if caps.has(capDeny) {
		caps = capDeny
	}
	r.perm.caps = caps
	return nil
}

func (r *rule) setConstraints(b *pathBlock) error {
	// Parameter names match case-insensitively: Vault lower-cases the
	// policy's keys and the request's names when comparing.
	r.perm.allowed = lowerKeys(b.AllowedParameters)
	r.perm.denied = lowerKeys(b.DeniedParameters)
	if len(b.RequiredParameters) > 0 {
		r.perm.required = b.RequiredParameters
	}
	var err error
	if r.perm.minWrap, err = parseTTL(b.MinWrappingTTL); err != nil {
		return parseErr("path %q: invalid min_wrapping_ttl: %s", r.pattern, err)
	}
	if r.perm.maxWrap, err = parseTTL(b.MaxWrappingTTL); err != nil {
		return parseErr("path %q: invalid max_wrapping_ttl: %s", r.pattern, err)
	}
	if r.perm.minWrap != 0 && r.perm.maxWrap != 0 && r.perm.maxWrap < r.perm.minWrap {
		return parseErr("path %q: max_wrapping_ttl cannot be less than min_wrapping_ttl", r.pattern)
	}
	return nil
}

func lowerKeys(m map[string][]any) map[string][]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]any, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// parseTTL reads a duration the way Vault's ParseDurationSecond does: a
// number or a bare numeric string is seconds, anything else a Go duration.
func parseTTL(v any) (time.Duration, error) {
	var secs float64
	switch v := v.(type) {
	case nil:
		return 0, nil
	case int:
		secs = float64(v)
	case int64:
		secs = float64(v)
	case float64:
		secs = v
	case string:
		if v == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			secs = float64(n)
			break
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", v)
		}
		secs = d.Seconds()
	default:
		return 0, fmt.Errorf("expected a duration, got %T", v)
	}
	switch {
	case secs < 0:
		return 0, fmt.Errorf("must not be negative")
	case secs > maxTTL.Seconds():
		return 0, fmt.Errorf("must not be more than %s", maxTTL)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// maxTTL keeps wrapping TTLs far from time.Duration overflow; Vault's own
// maximum TTL is 32 days by default.
const maxTTL = 100 * 365 * 24 * time.Hour

// compile classifies the pattern exactly as Vault does and precomputes
// what matching needs. Only a trailing "*" is a glob; a "*" elsewhere is a
// literal character. A "+" is a segment wildcard when it follows a "/" or
// starts the pattern; Vault then compares segments, so a "+" inside a
// segment ("a+b") is literal even in a segment rule.
func (r *rule) compile() {
	p := r.pattern
	segment := p == "+" || strings.Contains(p, "/+") || strings.HasPrefix(p, "+/")
	r.prefix = p
	if strings.HasSuffix(p, "*") {
		r.isPrefix = true
		r.prefix = p[:len(p)-1]
	}
	switch {
	case segment:
		r.kind = kindSegment
		r.parts = strings.Split(r.prefix, "/")
		r.firstWild = strings.Index(p, "+")
		for _, s := range r.parts {
			if s == "+" {
				r.wildcards++
			}
		}
	case r.isPrefix:
		r.kind = kindPrefix
	default:
		r.kind = kindExact
	}
}

// UsesWrapping reports whether a rule sets min_wrapping_ttl or
// max_wrapping_ttl. Such a rule allows only wrapped requests; a server
// without response wrapping would deny its path outright, so the broker
// refuses the policy instead of storing a rule that silently locks a path.
func (p *Policy) UsesWrapping() bool {
	for _, r := range p.rules {
		if r.perm.minWrap != 0 || r.perm.maxWrap != 0 {
			return true
		}
	}
	return false
}
