package engine

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// allAliases are every deprecated name Parse knows, as jwt passes them.
var allAliases = []string{"policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs"}

// body decodes a JSON request body as the core does (numbers as
// json.Number).
func body(t testing.TB, s string) Fields {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var f Fields
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("body %s: %v", s, err)
	}
	return f
}

func TestTokenParamsParse(t *testing.T) {
	stored := TokenParams{TokenPolicies: []string{"old"}, TokenTTL: time.Minute, TokenMaxTTL: time.Hour, TokenType: "service"}
	tests := []struct {
		name    string
		start   TokenParams
		body    string
		aliases []string
		want    TokenParams
	}{
		{"every field, every input type", TokenParams{},
			`{"token_policies":" Dev, ops ,dev,","token_ttl":"10m","token_max_ttl":3600,"token_explicit_max_ttl":"2h",
			  "token_period":"90","token_num_uses":"5","token_bound_cidrs":["10.1.2.3/8","2001:db8::1"],
			  "token_no_default_policy":"true","token_type":"service"}`, nil,
			TokenParams{TokenPolicies: []string{"dev", "ops"}, TokenTTL: 10 * time.Minute, TokenMaxTTL: time.Hour,
				TokenExplicitMaxTTL: 2 * time.Hour, TokenPeriod: 90 * time.Second, TokenNumUses: 5,
				TokenBoundCIDRs: []string{"10.0.0.0/8", "2001:db8::1"}, TokenNoDefaultPolicy: true, TokenType: "service"}},
		{"deprecated names stand for current ones", TokenParams{},
			`{"policies":"b,A","ttl":"1h","max_ttl":7200,"period":"30m","num_uses":3,"bound_cidrs":"10.0.0.1"}`, allAliases,
			TokenParams{TokenPolicies: []string{"a", "b"}, TokenTTL: time.Hour, TokenMaxTTL: 2 * time.Hour,
				TokenPeriod: 30 * time.Minute, TokenNumUses: 3, TokenBoundCIDRs: []string{"10.0.0.1"}}},
		{"the current name wins over its alias", TokenParams{},
			`{"policies":"a","token_policies":"b","period":10,"token_period":20,"ttl":"abc","token_ttl":5}`, allAliases,
			TokenParams{TokenPolicies: []string{"b"}, TokenPeriod: 20 * time.Second, TokenTTL: 5 * time.Second}},
		{"an alias not accepted is not read", TokenParams{},
			`{"ttl":"1h","max_ttl":"x","num_uses":-1,"bound_cidrs":"nope","period":60}`, []string{"policies", "period"},
			TokenParams{TokenPeriod: time.Minute}},
		{"fields not sent keep their values", stored, `{"token_ttl":30}`, nil,
			TokenParams{TokenPolicies: []string{"old"}, TokenTTL: 30 * time.Second, TokenMaxTTL: time.Hour, TokenType: "service"}},
		{"null is not sent", stored, `{"token_policies":null,"policies":null,"token_ttl":null,"token_type":null}`, allAliases, stored},
		{"empty values clear", stored, `{"token_policies":"","token_ttl":"","token_max_ttl":0,"token_type":""}`, nil,
			TokenParams{TokenPolicies: []string{}, TokenType: "default"}},
		{"token_type default", stored, `{"token_type":"default"}`, nil,
			TokenParams{TokenPolicies: []string{"old"}, TokenTTL: time.Minute, TokenMaxTTL: time.Hour, TokenType: "default"}},
		{"batch without period or uses", TokenParams{}, `{"token_type":"batch","token_ttl":60}`, nil,
			TokenParams{TokenType: "batch", TokenTTL: time.Minute}},
		{"ttl above max when max is 0", TokenParams{}, `{"token_ttl":"2h"}`, nil, TokenParams{TokenTTL: 2 * time.Hour}},
		{"lookalike policies", TokenParams{}, `{"token_policies":["Deploy","deploy "," DEPLOY","rooted"]}`, nil,
			TokenParams{TokenPolicies: []string{"deploy", "rooted"}}},
		{"mapped IPv4 blocks become IPv4", TokenParams{}, `{"token_bound_cidrs":"::ffff:192.168.0.0/112, ::ffff:10.0.0.1"}`, nil,
			TokenParams{TokenBoundCIDRs: []string{"192.168.0.0/16", "10.0.0.1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.start
			got.TokenPolicies = append([]string(nil), tt.start.TokenPolicies...)
			if err := got.Parse(body(t, tt.body), tt.aliases...); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestTokenParamsParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		start TokenParams
		body  string
		msg   string
	}{
		{"ttl type", TokenParams{}, `{"token_ttl":"abc"}`, `error converting input for field "token_ttl"`},
		{"alias type names the alias", TokenParams{}, `{"ttl":[1]}`, `field "ttl"`},
		{"ttl negative", TokenParams{}, `{"token_ttl":-1}`, "'token_ttl' cannot be negative"},
		{"alias negative names the field", TokenParams{}, `{"ttl":"-1"}`, "'token_ttl' cannot be negative"},
		{"max ttl negative", TokenParams{}, `{"token_max_ttl":-1}`, "'token_max_ttl' cannot be negative"},
		{"explicit max ttl negative", TokenParams{}, `{"token_explicit_max_ttl":"-1"}`, "'token_explicit_max_ttl' cannot be negative"},
		{"period negative", TokenParams{}, `{"period":-1}`, "'token_period' cannot be negative"},
		{"duration below -1", TokenParams{}, `{"token_period":"-5s"}`, `field "token_period"`},
		{"num uses negative", TokenParams{}, `{"token_num_uses":"-2"}`, "'token_num_uses' cannot be negative"},
		{"num uses fraction", TokenParams{}, `{"num_uses":1.5}`, `field "num_uses"`},
		{"policies type", TokenParams{}, `{"token_policies":[true]}`, `field "token_policies"`},
		{"root", TokenParams{}, `{"token_policies":["deploy","root"]}`, `the "root" policy cannot be granted by an auth role`},
		{"root lookalike", TokenParams{}, `{"policies":"dev, ROOT "}`, `the "root" policy cannot be granted`},
		{"CIDR bits", TokenParams{}, `{"token_bound_cidrs":"10.0.0.0/33"}`, `invalid CIDR block "10.0.0.0/33" in token_bound_cidrs`},
		{"CIDR garbage", TokenParams{}, `{"bound_cidrs":["10.0.0.1","nope"]}`, `invalid CIDR block "nope" in token_bound_cidrs`},
		{"CIDR octet", TokenParams{}, `{"token_bound_cidrs":["300.1.1.1"]}`, `"300.1.1.1"`},
		{"CIDR zone", TokenParams{}, `{"token_bound_cidrs":"fe80::1%eth0"}`, "invalid CIDR block"},
		{"CIDR type", TokenParams{}, `{"token_bound_cidrs":7}`, `field "token_bound_cidrs"`},
		{"token type", TokenParams{}, `{"token_type":"root"}`, `invalid 'token_type' value "root"`},
		{"legacy token type", TokenParams{}, `{"token_type":"default-batch"}`, `invalid 'token_type' value "default-batch"`},
		{"no default policy type", TokenParams{}, `{"token_no_default_policy":"maybe"}`, `field "token_no_default_policy"`},
		{"batch periodic", TokenParams{}, `{"token_type":"batch","token_period":60}`, "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"},
		{"batch limited uses", TokenParams{}, `{"token_type":"batch","token_num_uses":2}`, "when set to generate tokens with limited use count"},
		{"batch over a stored period", TokenParams{TokenPeriod: time.Minute}, `{"token_type":"batch"}`, "periodic tokens"},
		{"uses on a stored batch role", TokenParams{TokenType: "batch"}, `{"num_uses":1}`, "limited use count"},
		{"ttl above max", TokenParams{}, `{"token_ttl":"2h","token_max_ttl":"1h"}`, "'token_ttl' cannot be greater than 'token_max_ttl'"},
		{"ttl above a stored max", TokenParams{TokenMaxTTL: time.Hour}, `{"ttl":"61m"}`, "'token_ttl' cannot be greater than 'token_max_ttl'"},
		{"max below a stored ttl", TokenParams{TokenTTL: time.Hour}, `{"token_max_ttl":"59m"}`, "'token_ttl' cannot be greater than 'token_max_ttl'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.start
			err := p.Parse(body(t, tt.body), allAliases...)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if fail.KindOf(err) != fail.Invalid || !strings.Contains(fail.Message(err), tt.msg) {
				t.Fatalf("error %q (%v); want invalid containing %q", fail.Message(err), fail.KindOf(err), tt.msg)
			}
		})
	}
}

func TestTokenParamsRender(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    TokenParams
		want map[string]any
	}{
		{"zero", TokenParams{}, map[string]any{
			"token_policies": []string{}, "token_bound_cidrs": []string{}, "token_ttl": int64(0), "token_max_ttl": int64(0),
			"token_explicit_max_ttl": int64(0), "token_period": int64(0), "token_num_uses": 0,
			"token_no_default_policy": false, "token_type": "default",
		}},
		{"set", TokenParams{TokenPolicies: []string{"a"}, TokenBoundCIDRs: []string{"10.0.0.1"}, TokenTTL: 90*time.Second + time.Millisecond,
			TokenMaxTTL: time.Hour, TokenExplicitMaxTTL: 2 * time.Hour, TokenPeriod: time.Minute, TokenNumUses: 4,
			TokenNoDefaultPolicy: true, TokenType: "batch"}, map[string]any{
			"token_policies": []string{"a"}, "token_bound_cidrs": []string{"10.0.0.1"}, "token_ttl": int64(90), "token_max_ttl": int64(3600),
			"token_explicit_max_ttl": int64(7200), "token_period": int64(60), "token_num_uses": 4,
			"token_no_default_policy": true, "token_type": "batch",
		}},
	} {
		got := map[string]any{"other": 1}
		tt.p.Render(got)
		tt.want["other"] = 1
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, tt.want)
		}
	}
}

func TestTokenParamsAuth(t *testing.T) {
	p := TokenParams{TokenPolicies: []string{"a", "b"}, TokenTTL: time.Minute, TokenMaxTTL: time.Hour,
		TokenExplicitMaxTTL: 2 * time.Hour, TokenPeriod: 3 * time.Hour, TokenNumUses: 7, TokenNoDefaultPolicy: true,
		TokenBoundCIDRs: []string{"10.0.0.0/8"}, TokenType: "default"}
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	meta := map[string]string{"role": "r"}
	got := p.Auth("disp", "alias", meta, cidrs)
	want := &Auth{DisplayName: "disp", Alias: "alias", Policies: []string{"a", "b"}, NoDefaultPolicy: true, Metadata: meta,
		TTL: time.Minute, MaxTTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour, Period: 3 * time.Hour, NumUses: 7,
		BoundCIDRs: cidrs, Renewable: true, TokenType: ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("auth\n got %+v\nwant %+v", got, want)
	}
	got.Policies[0] = "changed"
	if p.TokenPolicies[0] != "a" {
		t.Fatal("the Auth shares the role's policy slice")
	}
	for typ, want := range map[string]string{"": "", "default": "", "service": "service", "batch": "batch"} {
		if got := (TokenParams{TokenType: typ}).Auth("", "", nil, []netip.Prefix{}); got.TokenType != want || got.BoundCIDRs != nil {
			t.Errorf("token_type %q: Auth has %q, cidrs %#v; want %q, nil", typ, got.TokenType, got.BoundCIDRs, want)
		}
	}
}

// TestTokenParamsStorage pins the stored JSON: roles written before the
// fields moved here, by either auth engine, must read the same.
func TestTokenParamsStorage(t *testing.T) {
	stored := `{"token_policies":["a"],"token_ttl":60000000000,"token_max_ttl":3600000000000,"token_explicit_max_ttl":0,
		"token_period":0,"token_num_uses":2,"token_bound_cidrs":["10.0.0.1/32","10.0.0.0/8"],"token_no_default_policy":true,"token_type":"default"}`
	var p TokenParams
	if err := json.Unmarshal([]byte(stored), &p); err != nil {
		t.Fatal(err)
	}
	want := TokenParams{TokenPolicies: []string{"a"}, TokenTTL: time.Minute, TokenMaxTTL: time.Hour, TokenNumUses: 2,
		TokenBoundCIDRs: []string{"10.0.0.1/32", "10.0.0.0/8"}, TokenNoDefaultPolicy: true, TokenType: "default"}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("decoded %+v", p)
	}
	prefixes, err := Prefixes(p.TokenBoundCIDRs)
	if err != nil || !reflect.DeepEqual(prefixes, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}) {
		t.Fatalf("older /32 form: %v, %v", prefixes, err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var again map[string]any
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range again {
		keys = append(keys, k)
	}
	if len(keys) != len(TokenFieldNames) {
		t.Fatalf("stored keys %v; want %v", keys, TokenFieldNames)
	}
	for _, k := range TokenFieldNames {
		if _, ok := again[k]; !ok {
			t.Fatalf("stored keys %v lack %q", keys, k)
		}
	}
	if again["token_ttl"] != float64(time.Minute) {
		t.Fatalf("token_ttl stored as %v; want nanoseconds", again["token_ttl"])
	}
}

// FuzzTokenParamsParse parses arbitrary role bodies over a stored role: a
// refusal is a 400; what is accepted is canonical and consistent, and never
// grants root.
func FuzzTokenParamsParse(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"token_ttl":"1h","token_max_ttl":3600,"token_policies":["A"," b ","a"],"policies":"c"}`,
		`{"token_type":"batch","token_period":"10s","token_num_uses":"3"}`,
		`{"token_bound_cidrs":[1,"2001:db8::/129"],"period":1e3,"token_explicit_max_ttl":"-1"}`,
		`{"bound_cidrs":"::ffff:10.0.0.0/104, 10.0.0.1","ttl":"7d","num_uses":null,"token_type":"default"}`,
		`{"policies":" rOOt","token_no_default_policy":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var data Fields
		if dec.Decode(&data) != nil {
			return
		}
		p := TokenParams{TokenPolicies: []string{"old"}, TokenTTL: time.Minute, TokenMaxTTL: time.Hour}
		if err := p.Parse(data, allAliases...); err != nil {
			if fail.KindOf(err) != fail.Invalid {
				t.Fatalf("refusal of kind %v: %v", fail.KindOf(err), err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an inconsistent role: %v", err)
		}
		if p.TokenTTL < 0 || p.TokenMaxTTL < 0 || p.TokenExplicitMaxTTL < 0 || p.TokenPeriod < 0 || p.TokenNumUses < 0 {
			t.Fatalf("negative value accepted: %+v", p)
		}
		for i, n := range p.TokenPolicies {
			if n == "" || n == "root" || n != strings.ToLower(strings.TrimSpace(n)) || i > 0 && n <= p.TokenPolicies[i-1] {
				t.Fatalf("policies not canonical: %q", p.TokenPolicies)
			}
		}
		if again, err := CanonicalCIDRs("x", p.TokenBoundCIDRs); err != nil || !reflect.DeepEqual(again, p.TokenBoundCIDRs) {
			t.Fatalf("CIDRs not canonical: %q", p.TokenBoundCIDRs)
		}
		switch p.TokenType {
		case "", "default", "service", "batch":
		default:
			t.Fatalf("token_type %q", p.TokenType)
		}
		if a := p.Auth("d", "a", nil, nil); a.TokenType == "default" || slices.Contains(a.Policies, "root") {
			t.Fatalf("auth %+v", a)
		}
	})
}
