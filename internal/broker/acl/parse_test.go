package acl

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want map[string][]string // pattern → capabilities
	}{
		{"hcl", `path "secret/*" { capabilities = ["read", "list"] }`, map[string][]string{"secret/*": {"list", "read"}}},
		{"json", `{"path": {"secret/*": {"capabilities": ["read"]}, "aws/creds/x": {"capabilities": ["update"]}}}`,
			map[string][]string{"secret/*": {"read"}, "aws/creds/x": {"update"}}},
		{"json list of paths", `  {"path": [{"a": {"capabilities": ["read"]}}, {"b": {"policy": "write"}}]}`,
			map[string][]string{"a": {"read"}, "b": {"create", "delete", "list", "read", "update"}}},
		{"legacy read", `path "a" { policy = "read" }`, map[string][]string{"a": {"list", "read"}}},
		{"legacy write", `path "a" { policy = "write" }`, map[string][]string{"a": {"create", "delete", "list", "read", "update"}}},
		{"legacy sudo", `path "a" { policy = "sudo" }`, map[string][]string{"a": {"create", "delete", "list", "read", "sudo", "update"}}},
		{"legacy deny", `path "a" { policy = "deny" }`, map[string][]string{"a": {"deny"}}},
		{"legacy plus capabilities", `path "a" { policy = "read"
			capabilities = ["patch"] }`, map[string][]string{"a": {"list", "patch", "read"}}},
		{"deny drops the rest", `path "a" { capabilities = ["read", "deny", "sudo"] }`, map[string][]string{"a": {"deny"}}},
		{"comment and name keys", `name = "ignored"
			path "a" {
				comment = "why"
				capabilities = ["read"]
			}`, map[string][]string{"a": {"read"}}},
		{"empty block", `path "a" {}`, map[string][]string{"a": {"deny"}}},
		{"comments only", "# nothing\n", map[string][]string{}},
		{"brackets in strings and comments do not nest", `path "a" {
				capabilities = ["read"]
				comment = "` + strings.Repeat("[", 64) + `\"` + strings.Repeat("{", 64) + `"
			} # ` + strings.Repeat("{", 64) + "\n// " + strings.Repeat("[", 64) + "\n/* " + strings.Repeat("(", 64) + " */",
			map[string][]string{"a": {"read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, "t", tt.text)
			a := New(p)
			got := map[string][]string{}
			for _, pat := range p.Patterns() {
				got[pat] = a.rules[pat].perm.caps.names()
				if len(got[pat]) == 0 {
					got[pat] = []string{"deny"}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseWrappingTTL(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{{`"1s"`, time.Second}, {`10`, 10 * time.Second}, {`"300"`, 5 * time.Minute}, {`"1h30m"`, 90 * time.Minute}} {
		p := mustParse(t, "t", `path "a" { capabilities = ["read"] min_wrapping_ttl = `+tt.v+` }`)
		if got := p.rules[0].perm.minWrap; got != tt.want {
			t.Errorf("min_wrapping_ttl = %s: got %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, policyName, text, want string
	}{
		{"unknown capability", "t", `path "a" { capabilities = ["read", "raed"] }`, `failed to parse policy: path "a": invalid capability "raed"`},
		{"scan is OpenBao only", "t", `path "a" { capabilities = ["scan"] }`, `invalid capability "scan"`},
		{"unknown legacy policy", "t", `path "a" { policy = "admin" }`, `failed to parse policy: path "a": invalid policy "admin"`},
		{"unknown path key", "t", "path \"a\" {\n capabilities = [\"read\"]\n capabilties = [\"list\"]\n}", `failed to parse policy: path "a": invalid key "capabilties" on line 3`},
		{"unknown top-level key", "t", "path \"a\" { capabilities = [\"read\"] }\nrules = 1", `failed to parse policy: invalid key "rules" on line 2`},
		{"unsupported mfa", "t", `path "a" { mfa_methods = ["x"] }`, `"mfa_methods" on line 1 is not supported`},
		{"unsupported control group", "t", `path "a" { control_group = {} }`, `"control_group" on line 1 is not supported`},
		// hcl v1.0.0 passes duplicates to Parse's own check; the vault fork
		// of hcl rejects them itself.
		{"duplicate key", "t", `path "a" { capabilities = ["read"] capabilities = ["deny"] }`, `duplicate key "capabilities" | "capabilities" at 1:36 was already set`},
		{"duplicate key (json)", "t", `{"path": {"a": {"capabilities": ["read"], "capabilities": ["deny"]}}}`, `path "a": duplicate key "capabilities"`},
		{"templated", "t", `path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }`, "templated policies are not supported"},
		{"plus star", "t", `path "secret/+*" { capabilities = ["read"] }`, `invalid use of wildcards ('+*' is forbidden)`},
		{"two labels", "t", `path "a" "b" { capabilities = ["read"] }`, "must be a block with one quoted pattern"},
		{"no label", "t", `path { capabilities = ["read"] }`, "must be a block with one quoted pattern"},
		{"not a block", "t", `path "a" = "read"`, `failed to parse policy`},
		{"syntax", "t", "path \"a\" {\n capabilities = [\"read\"\n}", "failed to parse policy: At 3:"},
		{"bad escape", "t", `path "a\q" {}`, "failed to parse policy: At 1:"},
		{"capabilities not a list", "t", `path "a" { capabilities = "read" }`, `failed to parse policy: path "a"`},
		{"bad ttl", "t", `path "a" { min_wrapping_ttl = "soon" }`, `invalid min_wrapping_ttl: "soon" is not a duration`},
		{"huge ttl", "t", `path "a" { max_wrapping_ttl = 99999999999999 }`, `invalid max_wrapping_ttl: must not be more than`},
		{"negative ttl", "t", `path "a" { max_wrapping_ttl = "-1s" }`, `invalid max_wrapping_ttl: must not be negative`},
		{"max below min", "t", `path "a" { min_wrapping_ttl = "1m" max_wrapping_ttl = "1s" }`, "max_wrapping_ttl cannot be less than min_wrapping_ttl"},
		{"nested too deep", "t", `path "a" { capabilities = ` + strings.Repeat("[", 4096), "nested more than 32 levels deep"},
		{"nested too deep (json)", "t", strings.Repeat(`{"a":`, 4096), "nested more than 32 levels deep"},
		{"empty policy", "t", "", "'policy' parameter not supplied or empty"},
		{"empty name", " ", `path "a" {}`, "policy name must be provided in the URL"},
		{"root", "root", `path "a" {}`, `cannot update "root" policy`},
		{"root lookalike", " Root", `path "a" {}`, `cannot update "root" policy`},
		{"root upper case", "ROOT\n", `path "a" {}`, `cannot update "root" policy`},
		{"response-wrapping", "Response-Wrapping", `path "a" {}`, `cannot update "response-wrapping" policy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.policyName, tt.text)
			if err == nil {
				t.Fatalf("Parse succeeded: %v", p.Patterns())
			}
			if !fail.Is(err, fail.Invalid) {
				t.Errorf("error kind = %v, want invalid", fail.KindOf(err))
			}
			msg := fail.Message(err)
			if !slices.ContainsFunc(strings.Split(tt.want, " | "), func(w string) bool { return strings.Contains(msg, w) }) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{" Root": "root", "ROOT\t": "root", "Dev-Team ": "dev-team", "default": "default"} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
	if p := mustParse(t, " Dev ", `path "a" {}`); p.Name != "dev" {
		t.Errorf("Name = %q, want normalised", p.Name)
	}
	// Vault lets operators rewrite the default policy.
	if p := mustParse(t, "Default", DefaultPolicy); p.Name != DefaultName {
		t.Errorf("Name = %q", p.Name)
	}
}

func TestBase64(t *testing.T) {
	hcl := `path "secret/*" { capabilities = ["read"] }`
	json := `{"path": {"secret/*": {"capabilities": ["read"]}}}`
	for _, text := range []string{hcl, json} {
		p := mustParse(t, "b", base64.StdEncoding.EncodeToString([]byte(text)))
		if p.Raw != text {
			t.Errorf("Raw = %q, want the decoded text", p.Raw)
		}
		if !New(p).Allowed(R, "secret/x", nil).Allowed {
			t.Error("decoded policy does not grant read")
		}
	}
	// Valid base64 that decodes to something other than a policy is
	// parsed as written, and fails as written.
	_, err := Parse("b", "cGF0aCAi") // `path "`
	if err == nil || !strings.Contains(err.Error(), "failed to parse policy") {
		t.Errorf("err = %v", err)
	}
	// Raw keeps plain text as given.
	if p := mustParse(t, "b", hcl); p.Raw != hcl {
		t.Errorf("Raw = %q", p.Raw)
	}
}

func TestDefaultPolicy(t *testing.T) {
	a := New(mustParse(t, DefaultName, DefaultPolicy))
	tests := []struct {
		op    engine.Operation
		path  string
		allow bool
	}{
		{R, "auth/token/lookup-self", true},
		{U, "auth/token/renew-self", true},
		{U, "auth/token/revoke-self", true},
		{U, "sys/capabilities-self", true},
		{R, "sys/internal/ui/resultant-acl", true},
		{U, "sys/leases/renew", true},
		{U, "sys/leases/lookup", true},
		{C, "cubbyhole/x", true},
		{R, "cubbyhole/x", true},
		{U, "cubbyhole/x", true},
		{D, "cubbyhole/x", true},
		{L, "cubbyhole/", true},
		{U, "sys/wrapping/wrap", true},
		{U, "sys/wrapping/lookup", true},
		{U, "sys/wrapping/unwrap", true},
		{U, "sys/tools/hash", true},
		{U, "sys/tools/hash/sha2-256", true},

		{U, "sys/leases/revoke", false},
		{U, "auth/token/lookup-self", false},
		{U, "auth/token/create", false},
		{R, "identity/entity/id/x", false},
		{R, "secret/data/x", false},
		{PA, "cubbyhole/x", false},
		{U, "sys/policies/acl/default", false},
	}
	for _, tt := range tests {
		if res := a.Allowed(tt.op, tt.path, nil); res.Allowed != tt.allow {
			t.Errorf("%s %s: Allowed = %v, want %v", tt.op, tt.path, res.Allowed, tt.allow)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultPolicy)
	for _, s := range fuzzPolicies {
		f.Add(s)
	}
	f.Add(`{"path": {"a/+/*": {"capabilities": ["read"], "allowed_parameters": {"x": ["*y"]}, "min_wrapping_ttl": 5}}}`)
	f.Add(`path "a" { policy = "write" denied_parameters = { "*" = [] } required_parameters = ["q"] }`)
	f.Add(base64.StdEncoding.EncodeToString([]byte(`path "b/*" { capabilities = ["list"] }`)))
	f.Add(`path "a\q" {}`)
	f.Add("path \"a\" { capabilities = [<<EOF\nx\nEOF\n] }")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse("fuzz", text)
		if err != nil {
			if !fail.Is(err, fail.Invalid) {
				t.Fatalf("error of kind %v: %v", fail.KindOf(err), err)
			}
			return
		}
		// A policy merged with itself decides exactly as it does alone.
		one, two := New(p), New(p, p)
		params := map[string]any{"q": "x", "x": "ay"}
		for _, pat := range p.Patterns() {
			for _, path := range []string{pat, strings.TrimSuffix(pat, "*") + "z", pat + "/"} {
				for _, op := range []engine.Operation{R, C, U, D, L, PA} {
					r1, r2 := one.Allowed(op, path, params), two.Allowed(op, path, params)
					if r1.Allowed != r2.Allowed || r1.Sudo != r2.Sudo || !slices.Equal(r1.Capabilities, r2.Capabilities) {
						t.Fatalf("%s %q: alone %+v, merged with itself %+v", op, path, r1, r2)
					}
				}
				if !slices.Equal(one.Capabilities(path), two.Capabilities(path)) {
					t.Fatalf("Capabilities(%q) differ after self-merge", path)
				}
			}
		}
	})
}
