package acl

import (
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// The edges below are each the one input that tells a correct rule from an
// off-by-one or inverted one; mutation testing found them untested.

func TestNilPoliciesAreIgnored(t *testing.T) {
	p := mustParse(t, "p", `path "a" { capabilities = ["read"] }`)
	a := New(nil, p, nil)
	if res := a.Allowed(R, "a", nil); !res.Allowed || len(res.GrantingPolicies) != 1 || res.GrantingPolicies[0] != "p" {
		t.Fatalf("with nil policies around: %+v", res)
	}
}

// TestMergeKeepsWrappingBounds: a policy without a wrapping bound does not
// lift another policy's bound on the same pattern, in either order.
func TestMergeKeepsWrappingBounds(t *testing.T) {
	for _, bound := range []string{`max_wrapping_ttl = "1m"`, `min_wrapping_ttl = "1m"`} {
		for _, texts := range [][]string{
			{`path "p" { capabilities = ["read"] ` + bound + ` }`, `path "p" { capabilities = ["read"] }`},
			{`path "p" { capabilities = ["read"] }`, `path "p" { capabilities = ["read"] ` + bound + ` }`},
		} {
			a := aclOf(t, texts...)
			if res := a.Allowed(R, "p", nil); res.Allowed {
				t.Errorf("%s lost in a merge (%q first): unwrapped request allowed", bound, texts[0])
			}
			if res := a.AllowedWrapped(R, "p", nil, time.Minute); !res.Allowed {
				t.Errorf("%s merged (%q first): wrapped request within it refused: %s", bound, texts[0], res.Reason)
			}
		}
	}
	// Bounds are inclusive: equal bounds are a valid rule that admits
	// exactly that TTL.
	a := aclOf(t, `path "p" { capabilities = ["read"] min_wrapping_ttl = "1m" max_wrapping_ttl = "1m" }`)
	for ttl, want := range map[time.Duration]bool{time.Minute: true, time.Minute - time.Second: false, time.Minute + time.Second: false} {
		if res := a.AllowedWrapped(R, "p", nil, ttl); res.Allowed != want {
			t.Errorf("min = max = 1m, wrapped for %s: allowed %v (%s)", ttl, res.Allowed, res.Reason)
		}
	}
}

// TestMergeParamsGrows: the merged parameter map holds the keys of both.
func TestMergeParamsGrows(t *testing.T) {
	a := aclOf(t,
		`path "p" { capabilities = ["update"] allowed_parameters = { ttl = ["1h"] } }`,
		`path "p" { capabilities = ["update"] allowed_parameters = { ttl = ["2h"], role = ["x"], region = [] } }`)
	for _, params := range []map[string]any{{"ttl": "1h"}, {"ttl": "2h", "role": "x"}, {"region": "eu"}} {
		if res := a.Allowed(U, "p", params); !res.Allowed {
			t.Errorf("%v: %s", params, res.Reason)
		}
	}
	if res := a.Allowed(U, "p", map[string]any{"role": "y"}); res.Allowed {
		t.Error("role y allowed")
	}
}

// TestTwoCharacterGlob: "a*" is a prefix glob like any longer one.
func TestTwoCharacterGlob(t *testing.T) {
	a := aclOf(t, `path "p" { capabilities = ["update"] allowed_parameters = { role = ["a*"], kind = ["*b"] } }`)
	if res := a.Allowed(U, "p", map[string]any{"role": "abc", "kind": "ab"}); !res.Allowed {
		t.Errorf("a* and *b: %s", res.Reason)
	}
}

// TestRankTieSortsByPattern: two "+" rules alike in every rank but their
// text are ordered by it, whichever policy comes first, as in Vault.
func TestRankTieSortsByPattern(t *testing.T) {
	deny := `path "+/+/x" { capabilities = ["deny"] }`
	read := `path "+/x/+" { capabilities = ["read"] }`
	for _, texts := range [][]string{{deny, read}, {read, deny}} {
		a := aclOf(t, texts...)
		if res := a.Allowed(R, "x/x/x", nil); !res.Allowed {
			t.Errorf("%q first: %s", texts[0], res.Reason)
		}
		if got, want := patternOf(a.lookup("x/x/x", false)), patternOf(vaultLookup(a, "x/x/x", false)); got != want {
			t.Errorf("%q first: rule %q, Vault's %q", texts[0], got, want)
		}
	}
}

// TestAnyUnderSegments: a "+" rule shorter than the mount path, and one
// whose last part is a prefix glob.
func TestAnyUnderSegments(t *testing.T) {
	for _, tt := range []struct {
		policy, mount string
		want          bool
	}{
		{`path "+/x" { capabilities = ["read"] }`, "a/x/y/", true},
		{`path "+/b*" { capabilities = ["read"] }`, "x/bc/", true},
		{`path "+/b*" { capabilities = ["read"] }`, "x/cb/", false},
		{`path "+/b/+" { capabilities = ["read"] }`, "x/bc/", false}, // "b" is not a glob here
	} {
		if got := New(mustParse(t, "p", tt.policy)).AnyUnder(tt.mount); got != tt.want {
			t.Errorf("%s on %s: %v, want %v", tt.policy, tt.mount, got, tt.want)
		}
	}
}

// TestNestingLimit: exactly maxNesting levels pass the depth check, one
// more fails it; closers before the openers do not buy depth, and brackets
// inside comments and strings do not count.
func TestNestingLimit(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) }
	for _, tt := range []struct {
		name, text string
		tooDeep    bool
	}{
		{"at the limit", deep(maxNesting), false},
		{"one more", deep(maxNesting + 1), true},
		{"leading closers", "]})" + deep(maxNesting+1), true},
		{"after an empty block comment", "/**/" + deep(maxNesting+1), true},
		{"after a line comment", "#\n" + deep(maxNesting+1), true},
		{"after a // comment", "//\n" + deep(maxNesting+1), true},
		{"in a line comment", "# " + deep(40) + "\n" + deep(maxNesting), false},
		{"in a // comment", "// " + deep(40) + "\n" + deep(maxNesting), false},
		{"in a block comment", "/* " + deep(40) + " */" + deep(maxNesting), false},
		{"in a string", `"` + deep(40) + `\"` + deep(40) + `"` + deep(maxNesting), false},
		{"unclosed comment", "/* " + deep(40), false},
		{"unterminated string", `"abc`, false},
		{"string ending in a backslash", `"abc\`, false},
	} {
		if got := tooDeep(tt.text); got != tt.tooDeep {
			t.Errorf("%s: tooDeep = %v, want %v", tt.name, got, tt.tooDeep)
		}
	}
}

func TestUsesWrapping(t *testing.T) {
	for text, want := range map[string]bool{
		`path "a" { capabilities = ["read"] }`:                                   false,
		`path "a" { capabilities = ["read"] min_wrapping_ttl = "1s" }`:           true,
		`path "a" {} path "b" { capabilities = ["read"] max_wrapping_ttl = 60 }`: true,
	} {
		if got := mustParse(t, "p", text).UsesWrapping(); got != want {
			t.Errorf("%s: UsesWrapping = %v", text, got)
		}
	}
}

// TestParseKeepsText: a text that decodes as base64 to nothing (a lone
// newline) is not base64; it is kept as written.
func TestParseKeepsText(t *testing.T) {
	if p := mustParse(t, "p", "\n"); p.Raw != "\n" {
		t.Fatalf("Raw = %q", p.Raw)
	}
}

// TestJSONErrorsHaveNoLine: the JSON parser records no line, and an error
// must not claim one.
func TestJSONErrorsHaveNoLine(t *testing.T) {
	_, err := Parse("p", `{"path": {"a": {"capabilties": ["read"]}}}`)
	if msg := fail.Message(err); !strings.Contains(msg, `invalid key "capabilties"`) || strings.Contains(msg, "on line") {
		t.Fatalf("message %q", msg)
	}
}
