package approle

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestIssueSecretIDDenied(t *testing.T) {
	h := newHarness(t)
	h.createRole("limited", map[string]any{
		"secret_id_num_uses": 5, "secret_id_ttl": "1h",
		"secret_id_bound_cidrs": "10.0.0.0/8", "token_bound_cidrs": "10.0.0.0/8",
	})
	h.createRole("nobind", map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": "10.0.0.0/8"})
	for _, tc := range []struct {
		name, path string
		data       map[string]any
		kind       fail.Kind
		msg        string
	}{
		{"cidr_list outside role", "limited", map[string]any{"cidr_list": "11.0.0.0/24"}, fail.Invalid, "failed to verify subset relationship"},
		{"cidr_list wider than role", "limited", map[string]any{"cidr_list": "10.0.0.0/7"}, fail.Invalid, "failed to verify subset relationship"},
		{"token_bound_cidrs not subset", "limited", map[string]any{"token_bound_cidrs": []any{"10.1.0.0/16", "192.168.0.1"}}, fail.Invalid, "failed to verify subset relationship"},
		{"bad cidr", "limited", map[string]any{"cidr_list": "10.0.0.0/33"}, fail.Invalid, `invalid CIDR block "10.0.0.0/33" in cidr_list`},
		{"num_uses above role", "limited", map[string]any{"num_uses": 6}, fail.Invalid, "num_uses cannot be higher than the role's secret_id_num_uses"},
		{"num_uses unlimited", "limited", map[string]any{"num_uses": 0}, fail.Invalid, "num_uses cannot be higher than the role's secret_id_num_uses"},
		{"num_uses negative", "limited", map[string]any{"num_uses": -1}, fail.Invalid, "num_uses cannot be negative"},
		{"num_uses type", "limited", map[string]any{"num_uses": "many"}, fail.Invalid, `"num_uses"`},
		{"ttl above role", "limited", map[string]any{"ttl": "2h"}, fail.Invalid, "ttl cannot be longer than the role's secret_id_ttl"},
		{"ttl never", "limited", map[string]any{"ttl": 0}, fail.Invalid, "ttl cannot be longer than the role's secret_id_ttl"},
		{"ttl type", "limited", map[string]any{"ttl": true}, fail.Invalid, `"ttl"`},
		{"bad metadata", "limited", map[string]any{"metadata": "not json"}, fail.Invalid, "failed to parse metadata"},
		{"metadata values", "limited", map[string]any{"metadata": map[string]any{"a": 1}}, fail.Invalid, `"metadata"`},
		{"unknown role", "nope", nil, fail.NotFound, `role "nope" does not exist`},
		{"bind_secret_id off", "nobind", nil, fail.Invalid, "bind_secret_id is not set on the role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := h.do(engine.Update, "role/"+tc.path+"/secret-id", tc.data)
			wantErr(t, err, tc.kind, tc.msg)
			if resp != nil {
				t.Fatalf("response with error: %+v", resp)
			}
		})
	}
	// What the role allows does work.
	resp := h.must(engine.Update, "role/limited/secret-id", map[string]any{
		"num_uses": 5, "ttl": "30m", "cidr_list": "10.1.0.0/16", "token_bound_cidrs": "10.2.3.4",
	})
	if resp.Data["secret_id_num_uses"] != 5 || resp.Data["secret_id_ttl"] != int64(1800) {
		t.Fatalf("issue data %v", resp.Data)
	}
	if keys := h.st.Keys(); len(keys) != 6 { // 2 roles, 2 role_id indexes, 1 secret ID, 1 accessor
		t.Fatalf("refused issues left storage behind: %v", keys)
	}
}

func TestIssueDefaultsAndLookup(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", map[string]any{"secret_id_num_uses": 2, "secret_id_ttl": "10m"})
	resp := h.must(engine.Update, "role/r/secret-id", map[string]any{"metadata": "a=1, b = 2", "cidr_list": "10.0.0.1", "color": "x"})
	if resp.Data["secret_id_num_uses"] != 2 || resp.Data["secret_id_ttl"] != int64(600) {
		t.Fatalf("role defaults not applied: %v", resp.Data)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "[color]") {
		t.Fatalf("warnings %v", resp.Warnings)
	}
	sid, acc := resp.Data["secret_id"].(string), resp.Data["secret_id_accessor"].(string)
	created := h.clock.Now().Format(time.RFC3339Nano)
	want := map[string]any{
		"secret_id_accessor": acc,
		"secret_id_num_uses": 2,
		"secret_id_ttl":      int64(600),
		"creation_time":      created,
		"expiration_time":    h.clock.Now().Add(10 * time.Minute).Format(time.RFC3339Nano),
		"last_updated_time":  created,
		"metadata":           map[string]string{"a": "1", "b": "2"},
		"cidr_list":          []string{"10.0.0.1"}, // a single address reads back bare, as Vault shows it
		"token_bound_cidrs":  []string{},
	}
	for _, tc := range []struct{ path, field, value string }{
		{"role/r/secret-id/lookup", "secret_id", sid},
		{"role/r/secret-id-accessor/lookup", "secret_id_accessor", acc},
	} {
		got := h.must(engine.Update, tc.path, map[string]any{tc.field: tc.value})
		if !reflect.DeepEqual(got.Data, want) {
			t.Fatalf("%s\n got %v\nwant %v", tc.path, got.Data, want)
		}
	}
	// A secret ID capped by the mount's maximum lease TTL.
	h.createRole("long", nil)
	if r := h.must(engine.Update, "role/long/secret-id", map[string]any{"ttl": "48h"}); r.Data["secret_id_ttl"] != int64(24*3600) {
		t.Fatalf("ttl not capped: %v", r.Data)
	}
	// Missing inputs.
	for _, p := range []string{"secret-id/lookup", "secret-id/destroy", "secret-id-accessor/lookup", "secret-id-accessor/destroy"} {
		_, err := h.do(engine.Update, "role/r/"+p, nil)
		wantErr(t, err, fail.Invalid, "missing secret_id")
	}
	// Unknown secret IDs: lookup is a 404, destroy a no-op.
	if r := h.must(engine.Update, "role/r/secret-id/lookup", map[string]any{"secret_id": "nope"}); r != nil {
		t.Fatalf("lookup of unknown: %+v", r)
	}
	_, err := h.do(engine.Update, "role/r/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": "../../role/r"})
	wantErr(t, err, fail.NotFound, "failed to find accessor entry")
}

// TestSecretIDScopedToRole is CVE-2023-24999: role A's paths must not see or
// destroy role B's secret IDs, by accessor or by value.
func TestSecretIDScopedToRole(t *testing.T) {
	h := newHarness(t)
	h.createRole("a", nil)
	h.createRole("b", nil)
	h.secretID("a", nil)
	sidB, accB := h.secretID("b", nil)
	roleB := h.roleID("b")

	_, err := h.do(engine.Update, "role/a/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": accB})
	wantErr(t, err, fail.NotFound, "failed to find accessor entry for secret_id_accessor")
	for _, op := range []engine.Operation{engine.Update, engine.Delete} {
		_, err = h.do(op, "role/a/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": accB})
		wantErr(t, err, fail.NotFound, "failed to find accessor entry for secret_id_accessor")
	}
	if r := h.must(engine.Update, "role/a/secret-id/lookup", map[string]any{"secret_id": sidB}); r != nil {
		t.Fatalf("role a sees role b's secret ID: %+v", r)
	}
	h.must(engine.Update, "role/a/secret-id/destroy", map[string]any{"secret_id": sidB})
	if keys := h.must(engine.List, "role/a/secret-id/", nil).Data["keys"].([]string); len(keys) != 1 || keys[0] == accB {
		t.Fatalf("role a lists %v", keys)
	}

	// Role B's secret ID is intact and works.
	wantLoginOK(t)(h.login(defaultAddr, roleB, sidB))
	if r := h.must(engine.Update, "role/b/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": accB}); r == nil {
		t.Fatal("role b lost its secret ID")
	}
	// Through its own role, the destroy works.
	h.must(engine.Update, "role/b/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": accB})
	resp, err := h.login(defaultAddr, roleB, sidB)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
	if r := h.must(engine.List, "role/b/secret-id", nil); r != nil {
		t.Fatalf("empty list must be nil (404): %+v", r)
	}
}

func TestCustomSecretID(t *testing.T) {
	h := newHarness(t)
	h.createRole("a", nil)
	h.createRole("b", nil)
	const custom = "my-own-secret-0123456789"
	resp := h.must(engine.Update, "role/a/custom-secret-id", map[string]any{"secret_id": custom, "num_uses": 1})
	if resp.Data["secret_id"] != custom {
		t.Fatalf("data %v", resp.Data)
	}
	_, err := h.do(engine.Update, "role/a/custom-secret-id", map[string]any{"secret_id": custom})
	wantErr(t, err, fail.Invalid, "SecretID is already registered")
	_, err = h.do(engine.Update, "role/a/custom-secret-id", nil)
	wantErr(t, err, fail.Invalid, "missing secret_id")
	_, err = h.do(engine.Update, "role/a/custom-secret-id", map[string]any{"secret_id": strings.Repeat("x", 4097)})
	wantErr(t, err, fail.Invalid, "secret_id is longer than maximum of 4096 bytes")
	// The same value under another role is a different secret ID.
	h.must(engine.Update, "role/b/custom-secret-id", map[string]any{"secret_id": custom})
	wantLoginOK(t)(h.login(defaultAddr, h.roleID("a"), custom))
	resp, err = h.login(defaultAddr, h.roleID("a"), custom)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
	wantLoginOK(t)(h.login(defaultAddr, h.roleID("b"), custom))
}

// TestStorageHoldsNoSecretID scans every stored key and value for the
// secret IDs issued.
func TestStorageHoldsNoSecretID(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", map[string]any{"secret_id_num_uses": 3})
	var secrets []string
	for i := 0; i < 3; i++ {
		sid, _ := h.secretID("r", map[string]any{"metadata": `{"k":"v"}`})
		secrets = append(secrets, sid)
	}
	h.must(engine.Update, "role/r/custom-secret-id", map[string]any{"secret_id": "custom-plain-secret"})
	secrets = append(secrets, "custom-plain-secret")
	wantLoginOK(t)(h.login(defaultAddr, h.roleID("r"), secrets[0])) // a decrement rewrites the entry
	ctx := context.Background()
	for _, k := range h.st.Keys() {
		v, err := h.st.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(k, s) || strings.Contains(string(v), s) {
				t.Fatalf("secret ID %q stored in plain text at %q", s, k)
			}
		}
		if strings.HasPrefix(k, "role_id/") && strings.Contains(k, h.roleID("r")) {
			t.Fatalf("role_id index holds the role_id: %q", k)
		}
	}
}

func TestTidy(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", nil)
	roleID := h.roleID("r")
	short, _ := h.secretID("r", map[string]any{"ttl": "1m"})
	long, longAcc := h.secretID("r", map[string]any{"ttl": "1h"})
	forever, _ := h.secretID("r", nil)
	ctx := context.Background()
	// Leftovers: a deleted role's scope and accessors without a secret ID,
	// two of each so a sweep that stops after the first is seen.
	r, _ := loadRole(ctx, h.st, "r")
	for _, k := range []string{secretKey("dead-scope", "h1"), accessorKey("dead-scope", "acc"), accessorKey("dead-scope", "acc2"),
		accessorKey(r.Scope, "00000000-0000-0000-0000-000000000000"), accessorKey(r.Scope, "00000000-0000-0000-0000-000000000001")} {
		if err := h.st.Put(ctx, k, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Add(2 * time.Minute)
	resp := h.must(engine.Update, "tidy/secret-id", nil)
	if resp.Status != http.StatusAccepted || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "Tidy operation successfully started") {
		t.Fatalf("tidy response %+v", resp)
	}
	got := h.must(engine.List, "role/r/secret-id", nil).Data["keys"].([]string)
	if len(got) != 2 || (got[0] != longAcc && got[1] != longAcc) {
		t.Fatalf("after tidy %v", got)
	}
	for _, k := range h.st.Keys() {
		if strings.Contains(k, "dead-scope") || strings.Contains(k, "00000000-0000") {
			t.Fatalf("tidy left %q", k)
		}
	}
	if n := len(h.st.Keys()); n != 6 { // role, index, 2 × (secret ID, accessor)
		t.Fatalf("%d keys after tidy: %v", n, h.st.Keys())
	}
	resp, err := h.login(defaultAddr, roleID, short)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
	wantLoginOK(t)(h.login(defaultAddr, roleID, long))
	wantLoginOK(t)(h.login(defaultAddr, roleID, forever))
}

func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want map[string]string
		err  bool
	}{
		{nil, map[string]string{}, false},
		{"", map[string]string{}, false},
		{`{"a":"1","b":""}`, map[string]string{"a": "1", "b": ""}, false},
		{"eyJhIjoiMSJ9", map[string]string{"a": "1"}, false}, // base64 of {"a":"1"}
		{"a=1,b=x=y", map[string]string{"a": "1", "b": "x=y"}, false},
		{"null", map[string]string{}, false},
		{map[string]any{"a": "1"}, map[string]string{"a": "1"}, false},
		{`{"a":1}`, nil, true},
		{"a", nil, true},
		{"=v", nil, true},
		{"a=1,,b=2", nil, true},
		{[]any{"a=1"}, nil, true},
	} {
		got, err := parseMetadata(engine.Fields{"metadata": tc.in})
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseMetadata(%#v) = %v, %v", tc.in, got, err)
		}
		if err != nil && fail.KindOf(err) != fail.Invalid {
			t.Errorf("parseMetadata(%#v): error kind %v", tc.in, fail.KindOf(err))
		}
	}
}
