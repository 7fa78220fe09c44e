package acl

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
)

func mustParse(t testing.TB, name, text string) *Policy {
	t.Helper()
	p, err := Parse(name, text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", name, err)
	}
	return p
}

// aclOf parses each text as policy p0, p1, ... and merges them.
func aclOf(t testing.TB, texts ...string) *ACL {
	t.Helper()
	var ps []*Policy
	for i, s := range texts {
		ps = append(ps, mustParse(t, fmt.Sprintf("p%d", i), s))
	}
	return New(ps...)
}

const (
	R  = engine.Read
	C  = engine.Create
	U  = engine.Update
	D  = engine.Delete
	L  = engine.List
	PA = engine.Patch
)

// TestRuleSelection covers which single rule applies to a path.
func TestRuleSelection(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		op       engine.Operation
		path     string
		allow    bool
	}{
		// Exact rules win over globs, in both directions.
		{"deny glob does not override exact allow", []string{`path "secret/*" { capabilities = ["deny"] }
			path "secret/foo" { capabilities = ["read"] }`}, R, "secret/foo", true},
		{"deny glob applies to other paths", []string{`path "secret/*" { capabilities = ["deny"] }
			path "secret/foo" { capabilities = ["read"] }`}, R, "secret/bar", false},
		{"exact deny beats glob allow", []string{`path "secret/*" { capabilities = ["read"] }
			path "secret/foo" { capabilities = ["deny"] }`}, R, "secret/foo", false},
		{"empty exact rule shadows glob", []string{`path "secret/*" { capabilities = ["read"] }
			path "secret/foo" {}`}, R, "secret/foo", false},
		{"rules in other policies are still one rule", []string{`path "secret/*" { capabilities = ["deny"] }`,
			`path "secret/foo" { capabilities = ["read"] }`}, R, "secret/foo", true},

		// Longest prefix among "*" rules.
		{"longer prefix wins (allow)", []string{`path "secret/*" { capabilities = ["deny"] }
			path "secret/app/*" { capabilities = ["read"] }`}, R, "secret/app/db", true},
		{"longer prefix wins (deny)", []string{`path "secret/*" { capabilities = ["read"] }
			path "secret/app/*" { capabilities = ["deny"] }`}, R, "secret/app/db", false},
		{"glob is a string prefix, not a segment", []string{`path "secret/zip-*" { capabilities = ["read"] }`}, R, "secret/zip-zap/zong", true},
		{"glob matches the bare prefix", []string{`path "secret/zip-*" { capabilities = ["read"] }`}, R, "secret/zip-", true},
		{"glob needs the whole prefix", []string{`path "secret/zip-*" { capabilities = ["read"] }`}, R, "secret/zip", false},
		{"lone star matches everything", []string{`path "*" { capabilities = ["read"] }`}, R, "sys/anything/at/all", true},
		{"inner star is literal", []string{`path "secret/*/foo" { capabilities = ["read"] }`}, R, "secret/x/foo", false},
		{"inner star matches itself", []string{`path "secret/*/foo" { capabilities = ["read"] }`}, R, "secret/*/foo", true},
		{"exact rule is not a prefix", []string{`path "secret/foo" { capabilities = ["read"] }`}, R, "secret/foobar", false},

		// "+" is exactly one segment.
		{"plus matches one segment", []string{`path "secret/+/teamb" { capabilities = ["read"] }`}, R, "secret/a/teamb", true},
		{"plus does not match zero segments", []string{`path "secret/+/teamb" { capabilities = ["read"] }`}, R, "secret/teamb", false},
		{"plus does not match two segments", []string{`path "secret/+/teamb" { capabilities = ["read"] }`}, R, "secret/a/b/teamb", false},
		{"trailing plus does not match deeper", []string{`path "secret/+" { capabilities = ["read"] }`}, R, "secret/a/b", false},
		{"trailing plus does not match parent", []string{`path "secret/+" { capabilities = ["read"] }`}, R, "secret", false},
		{"plus then glob", []string{`path "secret/+/*" { capabilities = ["read"] }`}, R, "secret/a/b/c", true},
		{"plus then glob needs the segment", []string{`path "secret/+/*" { capabilities = ["read"] }`}, R, "secret/a", false},
		{"plus then partial glob", []string{`path "secret/+/ab*" { capabilities = ["read"] }`}, R, "secret/x/abc/d", true},
		{"plus then partial glob mismatch", []string{`path "secret/+/ab*" { capabilities = ["read"] }`}, R, "secret/x/b", false},
		{"leading plus", []string{`path "+/config" { capabilities = ["read"] }`}, R, "aws/config", true},
		{"plus inside a segment is literal", []string{`path "secret/+/a+b" { capabilities = ["read"] }`}, R, "secret/x/aXb", false},
		{"plus inside a segment matches itself", []string{`path "secret/+/a+b" { capabilities = ["read"] }`}, R, "secret/x/a+b", true},

		// Ranking of non-exact rules (policy docs and acl.go).
		{"reference: secret/* beats secret/+/+/foo/*", []string{`path "secret/*" { capabilities = ["read"] }
			path "secret/+/+/foo/*" { capabilities = ["deny"] }`}, R, "secret/a/b/foo/c", true},
		{"later first wildcard wins", []string{`path "secret/+" { capabilities = ["deny"] }
			path "secret/a*" { capabilities = ["read"] }`}, R, "secret/abc", true},
		{"non-prefix beats prefix at the same position", []string{`path "secret/*" { capabilities = ["deny"] }
			path "secret/+/foo" { capabilities = ["read"] }`}, R, "secret/a/foo", true},
		{"fewer plus segments win", []string{`path "a/+/+/c" { capabilities = ["deny"] }
			path "a/+/b/c" { capabilities = ["read"] }`}, R, "a/x/b/c", true},
		{"longer wins", []string{`path "a/+/bar/b*" { capabilities = ["deny"] }
			path "a/+/bar/ba*" { capabilities = ["read"] }`}, R, "a/x/bar/baz", true},
		{"longest prefix competes with plus rules", []string{`path "a/*" { capabilities = ["read"] }
			path "a/b/*" { capabilities = ["deny"] }
			path "a/+/c" { capabilities = ["read"] }`}, R, "a/b/c", false},

		// LIST and trailing slashes.
		{"list uses exact rule without slash", []string{`path "secret/metadata/app" { capabilities = ["list"] }`}, L, "secret/metadata/app/", true},
		{"read does not trim the slash", []string{`path "secret/metadata/app" { capabilities = ["read"] }`}, R, "secret/metadata/app/", false},
		{"list falls back to trimmed non-exact", []string{`path "secret/+/app" { capabilities = ["list"] }`}, L, "secret/metadata/app/", true},
		{"read does not fall back", []string{`path "secret/+/app" { capabilities = ["read"] }`}, R, "secret/metadata/app/", false},
		{"list with glob", []string{`path "secret/metadata/*" { capabilities = ["list"] }`}, L, "secret/metadata/", true},
		{"exact slash rule beats trimmed", []string{`path "secret/app" { capabilities = ["list"] }
			path "secret/app/" { capabilities = ["deny"] }`}, L, "secret/app/", false},

		// GHSA-xp3c-3jw3-4vcr: a LIST must not escape a deny through a
		// broader grant found by trimming the slash first.
		{"GHSA-xp3c: deny glob holds for list", []string{`path "x/restricted/*" { capabilities = ["deny"] }
			path "x/*" { capabilities = ["list"] }`}, L, "x/restricted/", false},
		{"GHSA-xp3c: sibling still listable", []string{`path "x/restricted/*" { capabilities = ["deny"] }
			path "x/*" { capabilities = ["list"] }`}, L, "x/other/", true},
		{"GHSA-xp3c: plus variant", []string{`path "x/+/secret/*" { capabilities = ["deny"] }
			path "x/+/*" { capabilities = ["list"] }`}, L, "x/a/secret/", false},
		{"GHSA-xp3c: exact deny on x/", []string{`path "x/" { capabilities = ["deny"] }
			path "x/+/*" { capabilities = ["list"] }
			path "x/*" { capabilities = ["list"] }`}, L, "x/", false},
		{"GHSA-xp3c: exact deny on x", []string{`path "x" { capabilities = ["deny"] }
			path "x/*" { capabilities = ["list"] }`}, L, "x/", false},
		{"GHSA-xp3c: deny x/* outranks list x/+/*", []string{`path "x/*" { capabilities = ["deny"] }
			path "x/+/*" { capabilities = ["list"] }`}, L, "x/a/", false},
		{"GHSA-xp3c: deny in another policy", []string{`path "x/restricted/*" { capabilities = ["deny"] }`,
			`path "x/*" { capabilities = ["list"] }`}, L, "x/restricted/", false},

		// Leading slashes are ignored in patterns and paths.
		{"leading slash in pattern", []string{`path "/secret/foo" { capabilities = ["read"] }`}, R, "secret/foo", true},
		{"leading slashes in path", []string{`path "secret/foo" { capabilities = ["read"] }`}, R, "//secret/foo", true},

		// Capability must match the operation.
		{"read does not grant update", []string{`path "p" { capabilities = ["read"] }`}, U, "p", false},
		{"update does not grant create", []string{`path "p" { capabilities = ["update"] }`}, C, "p", false},
		{"patch needs patch", []string{`path "p" { capabilities = ["update"] }`}, PA, "p", false},
		{"patch granted", []string{`path "p" { capabilities = ["patch"] }`}, PA, "p", true},
		{"delete granted", []string{`path "p" { capabilities = ["delete"] }`}, D, "p", true},
		{"sudo alone grants nothing", []string{`path "p" { capabilities = ["sudo"] }`}, R, "p", false},
		{"unknown operation", []string{`path "p" { capabilities = ["read", "update"] }`}, "renew", "p", false},
		{"no rule", []string{`path "p" { capabilities = ["read"] }`}, R, "q", false},
		{"no policies", nil, R, "p", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := aclOf(t, tt.policies...).Allowed(tt.op, tt.path, nil)
			if res.Allowed != tt.allow {
				t.Fatalf("%s %q: Allowed = %v, want %v (reason %q)", tt.op, tt.path, res.Allowed, tt.allow, res.Reason)
			}
			if !res.Allowed && res.Reason == "" {
				t.Error("a denial must give a reason")
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := aclOf(t,
		`path "s/a" { capabilities = ["read"] }
		 path "s/b" { capabilities = ["read"] }
		 path "s/c" { capabilities = ["deny"] }
		 path "s/d" { capabilities = ["read", "sudo"] }`,
		`path "s/a" { capabilities = ["update"] }
		 path "s/b" { capabilities = ["deny"] }
		 path "s/c" { capabilities = ["read"] }
		 path "s/d" { capabilities = ["read"] }`,
	)
	tests := []struct {
		op       engine.Operation
		path     string
		allow    bool
		sudo     bool
		caps     []string
		granting []string
	}{
		{R, "s/a", true, false, []string{"read", "update"}, []string{"p0"}},
		{U, "s/a", true, false, []string{"read", "update"}, []string{"p1"}},
		{R, "s/b", false, false, []string{"deny"}, nil},
		{R, "s/c", false, false, []string{"deny"}, nil},
		{R, "s/d", true, true, []string{"read", "sudo"}, []string{"p0", "p1"}},
	}
	for _, tt := range tests {
		res := a.Allowed(tt.op, tt.path, nil)
		if res.Allowed != tt.allow || res.Sudo != tt.sudo ||
			!slices.Equal(res.Capabilities, tt.caps) || !slices.Equal(res.GrantingPolicies, tt.granting) {
			t.Errorf("%s %s = %+v, want allow=%v sudo=%v caps=%v granting=%v",
				tt.op, tt.path, res, tt.allow, tt.sudo, tt.caps, tt.granting)
		}
	}
}

// A pattern written twice in one policy merges like two policies.
func TestRepeatedPathInOnePolicy(t *testing.T) {
	a := aclOf(t, `path "p" { capabilities = ["read"] }
		path "p" { capabilities = ["update"] }`)
	for _, op := range []engine.Operation{R, U} {
		res := a.Allowed(op, "p", nil)
		if !res.Allowed || !slices.Equal(res.GrantingPolicies, []string{"p0"}) {
			t.Errorf("%s: %+v", op, res)
		}
	}
	if a.Allowed(D, "p", nil).Allowed {
		t.Error("delete allowed")
	}
}

// TestMergeIsOrderIndependent checks that a deny wins whichever policy
// comes first and that merging does not write to the parsed policies.
func TestMergeIsOrderIndependent(t *testing.T) {
	allow := mustParse(t, "allow", `path "p" {
		capabilities = ["update"]
		allowed_parameters = { ttl = ["1h"] }
	}`)
	wider := mustParse(t, "wider", `path "p" {
		capabilities = ["update"]
		allowed_parameters = { ttl = ["2h"] }
	}`)
	deny := mustParse(t, "deny", `path "p" { capabilities = ["deny"] }`)
	for _, ps := range [][]*Policy{{allow, deny}, {deny, allow}, {allow, wider, deny}} {
		if res := New(ps...).Allowed(U, "p", nil); res.Allowed {
			t.Errorf("deny lost: %+v", res)
		}
	}
	New(allow, wider)
	if res := New(allow).Allowed(U, "p", map[string]any{"ttl": "2h"}); res.Allowed {
		t.Error("merging changed the parsed policy")
	}
}

func TestParameters(t *testing.T) {
	tests := []struct {
		name   string
		policy []string // path "p" blocks, one per policy
		op     engine.Operation
		params map[string]any
		allow  bool
	}{
		{"no constraints", []string{``}, U, map[string]any{"x": 1}, true},
		{"required present", []string{`required_parameters = ["name"]`}, U, map[string]any{"name": "a"}, true},
		{"required missing", []string{`required_parameters = ["name"]`}, U, map[string]any{"other": "a"}, false},
		{"required missing without body", []string{`required_parameters = ["name"]`}, C, nil, false},
		{"required checked on read", []string{`required_parameters = ["name"]`}, R, nil, false},
		{"required not checked on delete", []string{`required_parameters = ["name"]`}, D, nil, true},
		{"required not checked on list", []string{`required_parameters = ["name"]`}, L, nil, true},
		{"required name is lower-cased", []string{`required_parameters = ["Name"]`}, U, map[string]any{"name": "a"}, true},
		{"required unioned (both)", []string{`required_parameters = ["a"]`, `required_parameters = ["b"]`}, U, map[string]any{"a": 1, "b": 1}, true},
		{"required unioned (one missing)", []string{`required_parameters = ["a"]`, `required_parameters = ["b"]`}, U, map[string]any{"a": 1}, false},

		{"allowed value", []string{`allowed_parameters = { ttl = ["1h", "2h"] }`}, U, map[string]any{"ttl": "2h"}, true},
		{"allowed other value", []string{`allowed_parameters = { ttl = ["1h", "2h"] }`}, U, map[string]any{"ttl": "3h"}, false},
		{"allowed other key", []string{`allowed_parameters = { ttl = ["1h"] }`}, U, map[string]any{"role": "x"}, false},
		{"allowed without body", []string{`allowed_parameters = { ttl = ["1h"] }`}, U, nil, true},
		{"allowed any value", []string{`allowed_parameters = { ttl = [] }`}, U, map[string]any{"ttl": "99h"}, true},
		{"allowed star key", []string{`allowed_parameters = { ttl = ["1h"], "*" = [] }`}, U, map[string]any{"role": "x"}, true},
		{"allowed star key keeps values", []string{`allowed_parameters = { ttl = ["1h"], "*" = [] }`}, U, map[string]any{"ttl": "3h"}, false},
		{"allowed name case-insensitive", []string{`allowed_parameters = { TTL = [] }`}, U, map[string]any{"Ttl": "1h"}, true},
		{"allowed checked on patch", []string{`allowed_parameters = { ttl = ["1h"] }`}, PA, map[string]any{"ttl": "2h"}, false},
		{"allowed checked on read", []string{`allowed_parameters = { ttl = ["1h"] }`}, R, map[string]any{"ttl": "2h"}, false},
		{"allowed int", []string{`allowed_parameters = { n = [3] }`}, U, map[string]any{"n": 3}, true},
		{"allowed bool mismatch", []string{`allowed_parameters = { b = [true] }`}, U, map[string]any{"b": false}, false},
		{"allowed null", []string{`allowed_parameters = { x = ["a"] }`}, U, map[string]any{"x": nil}, false},
		{"allowed merged values", []string{`allowed_parameters = { ttl = ["1h"] }`, `allowed_parameters = { ttl = ["2h"] }`}, U, map[string]any{"ttl": "2h"}, true},
		{"allowed merged still bounded", []string{`allowed_parameters = { ttl = ["1h"] }`, `allowed_parameters = { ttl = ["2h"] }`}, U, map[string]any{"ttl": "3h"}, false},
		{"allowed merged empty list wins", []string{`allowed_parameters = { ttl = ["1h"] }`, `allowed_parameters = { ttl = [] }`}, U, map[string]any{"ttl": "3h"}, true},
		{"allowed merged empty list wins (reversed)", []string{`allowed_parameters = { ttl = [] }`, `allowed_parameters = { ttl = ["1h"] }`}, U, map[string]any{"ttl": "3h"}, true},
		{"allowed merged with unconstrained", []string{``, `allowed_parameters = { ttl = ["1h"] }`}, U, map[string]any{"ttl": "3h"}, false},

		{"denied value", []string{`denied_parameters = { ttl = ["1h"] }`}, U, map[string]any{"ttl": "1h"}, false},
		{"denied other value", []string{`denied_parameters = { ttl = ["1h"] }`}, U, map[string]any{"ttl": "2h"}, true},
		{"denied any value", []string{`denied_parameters = { ttl = [] }`}, U, map[string]any{"ttl": "2h"}, false},
		{"denied star", []string{`denied_parameters = { "*" = [] }`}, U, map[string]any{"x": "y"}, false},
		{"denied star without body", []string{`denied_parameters = { "*" = [] }`}, U, nil, true},
		{"denied beats allowed", []string{`allowed_parameters = { ttl = [] }
			denied_parameters = { ttl = ["1h"] }`}, U, map[string]any{"ttl": "1h"}, false},
		{"denied name case-insensitive", []string{`denied_parameters = { ttl = [] }`}, U, map[string]any{"TTL": "1h"}, false},
		{"denied merged", []string{`denied_parameters = { ttl = ["1h"] }`, `denied_parameters = { ttl = ["2h"] }`}, U, map[string]any{"ttl": "2h"}, false},

		{"glob prefix", []string{`allowed_parameters = { role = ["deploy-*"] }`}, U, map[string]any{"role": "deploy-prod"}, true},
		{"glob prefix mismatch", []string{`allowed_parameters = { role = ["deploy-*"] }`}, U, map[string]any{"role": "admin-deploy-"}, false},
		{"glob suffix", []string{`allowed_parameters = { role = ["*-ro"] }`}, U, map[string]any{"role": "db-ro"}, true},
		{"glob suffix mismatch", []string{`allowed_parameters = { role = ["*-ro"] }`}, U, map[string]any{"role": "db-rw"}, false},
		{"glob both ends", []string{`allowed_parameters = { role = ["*mid*"] }`}, U, map[string]any{"role": "amidb"}, true},
		{"glob both ends mismatch", []string{`allowed_parameters = { role = ["*mid*"] }`}, U, map[string]any{"role": "mi-d"}, false},
		{"lone star is literal", []string{`allowed_parameters = { role = ["*"] }`}, U, map[string]any{"role": "x"}, false},
		{"lone star matches star", []string{`allowed_parameters = { role = ["*"] }`}, U, map[string]any{"role": "*"}, true},
		{"inner star is literal", []string{`allowed_parameters = { role = ["a*b"] }`}, U, map[string]any{"role": "axb"}, false},
		{"glob denied", []string{`denied_parameters = { role = ["admin*"] }`}, U, map[string]any{"role": "administrator"}, false},
		{"glob only on strings", []string{`allowed_parameters = { n = ["1*"] }`}, U, map[string]any{"n": 12}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var texts []string
			for _, body := range tt.policy {
				texts = append(texts, `path "p" { capabilities = ["create", "read", "update", "delete", "list", "patch"]
					`+body+` }`)
			}
			res := aclOf(t, texts...).Allowed(tt.op, "p", tt.params)
			if res.Allowed != tt.allow {
				t.Fatalf("Allowed = %v, want %v (reason %q)", res.Allowed, tt.allow, res.Reason)
			}
			if !res.Allowed && !strings.Contains(res.Reason, "parameter") {
				t.Errorf("reason %q does not name the parameter check", res.Reason)
			}
		})
	}
}

func TestWrapping(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		wrap     time.Duration
		allow    bool
	}{
		{"min requires wrapping", []string{`min_wrapping_ttl = "1s"`}, 0, false},
		{"min met", []string{`min_wrapping_ttl = "1s"`}, time.Minute, true},
		{"min not met", []string{`min_wrapping_ttl = "2m"`}, time.Minute, false},
		{"max requires wrapping", []string{`max_wrapping_ttl = "1h"`}, 0, false},
		{"max met", []string{`max_wrapping_ttl = "1h"`}, time.Minute, true},
		{"max exceeded", []string{`max_wrapping_ttl = "1m"`}, time.Hour, false},
		{"lower min wins", []string{`min_wrapping_ttl = 10`, `min_wrapping_ttl = 5`}, 6 * time.Second, true},
		{"lower max wins", []string{`max_wrapping_ttl = "1m"`, `max_wrapping_ttl = "30s"`}, 45 * time.Second, false},
		{"merged max below min", []string{`min_wrapping_ttl = "1m"`, `max_wrapping_ttl = "30s"`}, 45 * time.Second, false},
		{"unwrapped without bounds", []string{``}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var texts []string
			for _, body := range tt.policies {
				texts = append(texts, `path "p" { capabilities = ["read"]
					`+body+` }`)
			}
			res := aclOf(t, texts...).AllowedWrapped(R, "p", nil, tt.wrap)
			if res.Allowed != tt.allow {
				t.Fatalf("Allowed = %v, want %v (reason %q)", res.Allowed, tt.allow, res.Reason)
			}
		})
	}
	if res := aclOf(t, `path "p" { capabilities = ["read"] min_wrapping_ttl = "1s" }`).Allowed(R, "p", nil); res.Allowed {
		t.Error("Allowed must treat a request as unwrapped")
	}
}

func TestCapabilities(t *testing.T) {
	a := aclOf(t, `
		path "secret/*"        { capabilities = ["read", "list"] }
		path "secret/denied"   { capabilities = ["deny"] }
		path "secret/empty"    {}
		path "secret/dir"      { capabilities = ["update", "create", "list"] }
		path "sys/rotate"      { capabilities = ["update", "sudo"] }`,
		`path "secret/*" { capabilities = ["delete"] }`)
	tests := []struct {
		path string
		want []string
	}{
		{"secret/x", []string{"delete", "list", "read"}},
		{"secret/denied", []string{"deny"}},
		{"secret/empty", []string{"deny"}},
		{"secret/dir/", []string{"create", "list", "update"}}, // as for a LIST
		{"sys/rotate", []string{"sudo", "update"}},
		{"other", []string{"deny"}},
		{"/secret/x", []string{"delete", "list", "read"}},
	}
	for _, tt := range tests {
		if got := a.Capabilities(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("Capabilities(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// vaultLookup is a direct transcription of Vault's AllowOperation rule
// search (split strings, sort all candidates) to check the faster lookup
// against.
func vaultLookup(a *ACL, path string, list bool) *entry {
	exact := func(p string) *entry {
		if e, ok := a.rules[p]; ok && e.rule.kind == kindExact {
			return e
		}
		return nil
	}
	nonExact := func(path string) *entry {
		type descr struct {
			first, wild int
			prefix      bool
			wcPath      string
			e           *entry
		}
		var ds []descr
		var longest *entry
		for _, e := range a.rules {
			if e.rule.kind == kindPrefix && strings.HasPrefix(path, e.rule.prefix) &&
				(longest == nil || len(e.rule.prefix) > len(longest.rule.prefix)) {
				longest = e
			}
		}
		if longest != nil {
			ds = append(ds, descr{first: len(longest.rule.prefix), prefix: true, wcPath: longest.rule.prefix, e: longest})
		}
		parts := strings.Split(path, "/")
	next:
		for pat, e := range a.rules {
			if e.rule.kind != kindSegment {
				continue
			}
			d := descr{first: strings.Index(pat, "+"), e: e}
			cur := pat
			if strings.HasSuffix(cur, "*") {
				d.prefix, cur = true, cur[:len(cur)-1]
			}
			d.wcPath = cur
			split := strings.Split(cur, "/")
			if len(parts) < len(split) || (!d.prefix && len(split) != len(parts)) {
				continue
			}
			for i, s := range split {
				switch {
				case s == "+":
					d.wild++
				case s == parts[i]:
				case d.prefix && i == len(split)-1 && strings.HasPrefix(parts[i], s):
				default:
					continue next
				}
			}
			ds = append(ds, d)
		}
		if len(ds) == 0 {
			return nil
		}
		sort.Slice(ds, func(i, j int) bool {
			x, y := ds[i], ds[j]
			if x.first != y.first {
				return x.first < y.first
			}
			if x.prefix != y.prefix {
				return x.prefix
			}
			if x.wild != y.wild {
				return x.wild > y.wild
			}
			if len(x.wcPath) != len(y.wcPath) {
				return len(x.wcPath) < len(y.wcPath)
			}
			return x.wcPath < y.wcPath
		})
		return ds[len(ds)-1].e
	}
	if e := exact(path); e != nil {
		return e
	}
	if list {
		if e := exact(strings.TrimSuffix(path, "/")); e != nil {
			return e
		}
	}
	if e := nonExact(path); e != nil {
		return e
	}
	if list && strings.HasSuffix(path, "/") {
		return nonExact(strings.TrimSuffix(path, "/"))
	}
	return nil
}

var fuzzPolicies = []string{`
path "secret/*"            { capabilities = ["read", "list"] }
path "secret/+/+/foo/*"    { capabilities = ["deny"] }
path "secret/+/teamb"      { capabilities = ["update"] }
path "secret/zip-*"        { capabilities = ["create"] }
path "secret/a/*"          { capabilities = ["deny"] }
path "secret/a/b"          { capabilities = ["sudo", "read"] }
path "x/restricted/*"      { capabilities = ["deny"] }
path "x/*"                 { capabilities = ["list"] }
path "x/+/*"               { capabilities = ["list", "read"] }
path "+/config"            { capabilities = ["read"] }
path "+"                   { capabilities = ["list"] }
path "a/+/b+c/+"           { capabilities = ["patch"] }
path "a/+/bar/b*"          { capabilities = ["delete"] }
path "a/+/bar/ba*"         { capabilities = ["read"] }
path "m/"                  { capabilities = ["deny"] }
path "m"                   { capabilities = ["list"] }
path "*"                   { capabilities = ["read"] required_parameters = ["r"] }
`, `
path "secret/a/b"          { capabilities = ["update"] allowed_parameters = { k = ["v*"] } }
path "x/*"                 { capabilities = ["deny"] }
`}

func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"secret/a/b", "secret/x/y/foo/z", "x/restricted/", "x/a/", "m/", "a/1/b+c/2",
		"a/1/bar/baz", "/secret/zip-zap/zong", "aws/config", "", "/", "//", "+/*", "secret//teamb"} {
		f.Add(s, byte(0))
	}
	ps := []*Policy{mustParse(f, "one", fuzzPolicies[0]), mustParse(f, "two", fuzzPolicies[1])}
	ops := []engine.Operation{R, C, U, D, L, PA}
	f.Fuzz(func(t *testing.T, path string, opIndex byte) {
		a := New(ps...)
		op := ops[int(opIndex)%len(ops)]
		res := a.Allowed(op, path, map[string]any{"k": path})
		trimmed := strings.TrimLeft(path, "/")
		want := vaultLookup(a, trimmed, op == L)
		got := a.lookup(trimmed, op == L)
		if got != want {
			t.Fatalf("%s %q: rule %v, Vault's algorithm picks %v", op, path, patternOf(got), patternOf(want))
		}
		if res.Allowed && (want == nil || !want.perm.caps.has(opCap(op)) || want.perm.caps.has(capDeny)) {
			t.Fatalf("%s %q allowed without a granting rule: %+v", op, path, res)
		}
		if res.Allowed != (len(res.GrantingPolicies) > 0) {
			t.Fatalf("granting policies %v for allowed=%v", res.GrantingPolicies, res.Allowed)
		}
		a.Capabilities(path)
	})
}

func patternOf(e *entry) string {
	if e == nil {
		return "<none>"
	}
	return e.rule.pattern
}

func BenchmarkNewAllowed(b *testing.B) {
	ps := []*Policy{
		mustParse(b, "default", DefaultPolicy),
		mustParse(b, "ci", `
			path "secret/data/ci/*"  { capabilities = ["read"] }
			path "secret/metadata/ci/*" { capabilities = ["list"] }
			path "aws/creds/deploy"  { capabilities = ["read", "update"] }
			path "aws/sts/+"         { capabilities = ["read", "update"] }`),
		mustParse(b, "team", `
			path "secret/data/+/teamb/*" { capabilities = ["read"] }
			path "secret/data/ci/super"  { capabilities = ["deny"] }`),
	}
	b.ReportAllocs()
	for b.Loop() {
		a := New(ps...)
		if !a.Allowed(R, "secret/data/ci/app/db", nil).Allowed {
			b.Fatal("not allowed")
		}
		if a.Allowed(R, "secret/data/ci/super", nil).Allowed {
			b.Fatal("allowed")
		}
	}
}
