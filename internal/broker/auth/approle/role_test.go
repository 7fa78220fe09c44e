package approle

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

func TestRoleCRUD(t *testing.T) {
	h := newHarness(t)
	if r := h.must(engine.List, "role/", nil); r != nil {
		t.Fatalf("empty list: %+v", r)
	}
	h.createRole("web", nil)
	want := map[string]any{
		"bind_secret_id": true, "secret_id_bound_cidrs": []string{}, "secret_id_num_uses": 0, "secret_id_ttl": int64(0),
		"local_secret_ids": false, "token_bound_cidrs": []string{}, "token_explicit_max_ttl": int64(0), "token_max_ttl": int64(0),
		"token_no_default_policy": false, "token_num_uses": 0, "token_period": int64(0), "token_policies": []string{},
		"token_type": "default", "token_ttl": int64(0),
	}
	if got := h.must(engine.Read, "role/web", nil).Data; !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults\n got %v\nwant %v", got, want)
	}
	if _, err := uuid.Parse(h.roleID("web")); err != nil {
		t.Fatalf("role_id is not a UUID: %v", err)
	}

	// An update changes only what it names.
	resp := h.must(engine.Update, "role/web", map[string]any{"policies": "a,b", "period": 60, "secret_id_ttl": "10m", "token_max_ttl": "48h"})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "token_max_ttl is greater than") {
		t.Fatalf("warnings: %+v", resp)
	}
	got := h.must(engine.Read, "role/web", nil).Data
	if !reflect.DeepEqual(got["token_policies"], []string{"a", "b"}) || !reflect.DeepEqual(got["policies"], []string{"a", "b"}) ||
		got["token_period"] != int64(60) || got["period"] != int64(60) || got["secret_id_ttl"] != int64(600) || got["bind_secret_id"] != true {
		t.Fatalf("after update %v", got)
	}

	h.createRole("api", map[string]any{"local_secret_ids": true})
	if got := h.must(engine.Read, "role/api", nil).Data["local_secret_ids"]; got != true {
		t.Fatalf("local_secret_ids %v", got)
	}
	if keys := h.must(engine.List, "role", nil).Data["keys"]; !reflect.DeepEqual(keys, []string{"api", "web"}) {
		t.Fatalf("list %v", keys)
	}

	// Delete removes the role, its index and its secret IDs.
	h.secretID("web", nil)
	h.must(engine.Delete, "role/web", nil)
	if r := h.must(engine.Read, "role/web", nil); r != nil {
		t.Fatalf("deleted role reads %+v", r)
	}
	for _, k := range h.st.Keys() {
		if k != "role/api" && k != h.b.roleIDKey(h.roleID("api")) {
			t.Fatalf("delete left %q", k)
		}
	}
	h.must(engine.Delete, "role/web", nil) // deleting again is fine
	_, err := h.do(engine.Update, "role/web", map[string]any{"token_ttl": 1})
	wantErr(t, err, fail.NotFound, `role name "web" doesn't exist`)
}

func TestRoleNames(t *testing.T) {
	h := newHarness(t)
	// The longest name is what a storage key holds after "role/".
	for _, name := range []string{"a", "my role.v1_x-y", strings.Repeat("n", engine.MaxKeyLen-len("role/"))} {
		h.createRole(name, nil)
		if r := h.must(engine.Read, "role/"+name, nil); r == nil {
			t.Fatalf("%q not readable", name)
		}
	}
	// Names in paths must be lower case: ACL rules match the path as sent,
	// so role/ADMIN must not reach what a deny on role/admin protects.
	for _, p := range []string{"role/My", "role/ADMIN/secret-id", "role/Admin/role-id"} {
		_, err := h.do(engine.Update, p, nil)
		wantErr(t, err, fail.Invalid, "role names are case-insensitive and must be given in lower case")
	}
	for _, name := range []string{"a*b", "a:b", "héllo", "a\x00b", "a%2Fb", "tab\t", strings.Repeat("n", engine.MaxKeyLen-len("role/")+1), strings.Repeat("n", 4097)} {
		for _, p := range []string{"role/" + name, "role/" + name + "/secret-id"} {
			_, err := h.do(engine.Create, p, nil)
			wantErr(t, err, fail.Invalid, "role_name")
		}
	}
	_, err := h.do(engine.Update, "role//secret-id", nil)
	wantErr(t, err, fail.Invalid, "missing role_name")
}

func TestRoleWriteInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"bind_secret_id type", map[string]any{"bind_secret_id": "maybe"}, `"bind_secret_id"`},
		{"secret_id_num_uses type", map[string]any{"secret_id_num_uses": 1.5}, `"secret_id_num_uses"`},
		{"secret_id_num_uses negative", map[string]any{"secret_id_num_uses": -1}, "secret_id_num_uses cannot be negative"},
		{"ttl above max", map[string]any{"token_ttl": "2h", "token_max_ttl": "1h"}, "'token_ttl' cannot be greater than 'token_max_ttl'"},
		// The token fields are engine.TokenParams, tested there; these rows
		// check approle hands them over, with its own aliases.
		{"token_type", map[string]any{"token_type": "root"}, `invalid 'token_type' value "root"`},
		{"root policy", map[string]any{"policies": "dev, ROOT "}, `the "root" policy cannot be granted`},
		{"bad token cidr", map[string]any{"token_bound_cidrs": []any{"300.1.1.1"}}, `invalid CIDR block "300.1.1.1" in token_bound_cidrs`},
		{"period above mount", map[string]any{"token_period": "25h"}, "greater than the backend's maximum lease TTL"},
		{"bad secret cidr", map[string]any{"secret_id_bound_cidrs": "10.0.0.0/8,nonsense"}, `invalid CIDR block "nonsense" in secret_id_bound_cidrs`},
		{"no constraint", map[string]any{"bind_secret_id": false}, "at least one constraint should be enabled on the role"},
		{"empty role_id", map[string]any{"role_id": ""}, "invalid role_id supplied"},
		{"long role_id", map[string]any{"role_id": strings.Repeat("r", 4097)}, "role_id is longer than maximum of 4096 bytes"},
		{"role_id type", map[string]any{"role_id": []any{}}, `"role_id"`},
		{"local_secret_ids type", map[string]any{"local_secret_ids": "x"}, `"local_secret_ids"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, err := h.do(engine.Create, "role/r", tc.data)
			wantErr(t, err, fail.Invalid, tc.msg)
			if keys := h.st.Keys(); len(keys) != 0 {
				t.Fatalf("refused write stored %v", keys)
			}
		})
	}

	h := newHarness(t)
	h.createRole("r", nil)
	_, err := h.do(engine.Update, "role/r", map[string]any{"local_secret_ids": false})
	wantErr(t, err, fail.Invalid, "local_secret_ids can only be modified during role creation")
	_, err = h.do(engine.Update, "role/r", map[string]any{"token_max_ttl": "1s", "token_ttl": "1m"})
	wantErr(t, err, fail.Invalid, "'token_ttl' cannot be greater than 'token_max_ttl'")
	if got := h.must(engine.Read, "role/r", nil).Data["token_ttl"]; got != int64(0) {
		t.Fatalf("refused update changed the role: token_ttl %v", got)
	}
	// AppRole's legacy token types are adjusted with a warning; jwt's
	// deprecated "ttl" is not an AppRole field, so it is ignored with one.
	resp := h.must(engine.Update, "role/r", map[string]any{"token_type": "default-batch", "ttl": 60, "bogus": 1})
	want := []string{"default-batch has no useful meaning; adjusting to batch", "Endpoint ignored these unrecognized parameters: [bogus ttl]"}
	if resp == nil || !reflect.DeepEqual(resp.Warnings, want) {
		t.Fatalf("warnings %+v", resp)
	}
	got := h.must(engine.Read, "role/r", nil).Data
	if got["token_type"] != "batch" || got["token_ttl"] != int64(0) {
		t.Fatalf("after legacy token_type and ttl: %v", got)
	}
	// The request's own data is left as it came, for the audit log.
	f := engine.Fields{"token_type": "default-service"}
	if out, w := legacyTokenType(f); out["token_type"] != "service" || len(w) != 1 || f["token_type"] != "default-service" {
		t.Fatalf("legacyTokenType: %v %v, input now %v", out, w, f)
	}
}

func TestRoleIDs(t *testing.T) {
	h := newHarness(t)
	h.createRole("a", map[string]any{"role_id": "shared"})
	h.createRole("b", nil)
	bID := h.roleID("b")
	if h.roleID("a") != "shared" {
		t.Fatal("custom role_id at creation not kept")
	}

	_, err := h.do(engine.Update, "role/b/role-id", map[string]any{"role_id": "shared"})
	wantErr(t, err, fail.Invalid, "role_id already in use")
	_, err = h.do(engine.Create, "role/c", map[string]any{"role_id": "shared"})
	wantErr(t, err, fail.Invalid, "role_id already in use")
	_, err = h.do(engine.Update, "role/b", map[string]any{"role_id": "shared"})
	wantErr(t, err, fail.Invalid, "role_id already in use")
	_, err = h.do(engine.Update, "role/b/role-id", nil)
	wantErr(t, err, fail.Invalid, "missing role_id")
	if h.roleID("b") != bID {
		t.Fatal("refused role_id change applied")
	}
	_, err = h.do(engine.Update, "role/nope/role-id", map[string]any{"role_id": "x"})
	wantErr(t, err, fail.NotFound, `role "nope" does not exist`)
	if r := h.must(engine.Read, "role/nope/role-id", nil); r != nil {
		t.Fatalf("role-id of unknown role: %+v", r)
	}

	// Setting its own role_id again is not a collision; a new one frees
	// the old for another role.
	h.must(engine.Update, "role/a/role-id", map[string]any{"role_id": "shared"})
	h.must(engine.Update, "role/a/role-id", map[string]any{"role_id": "fresh"})
	h.must(engine.Update, "role/b/role-id", map[string]any{"role_id": "shared"})
	indexes := 0
	for _, k := range h.st.Keys() {
		if strings.HasPrefix(k, "role_id/") {
			indexes++
		}
	}
	if indexes != 2 {
		t.Fatalf("%d role_id indexes for 2 roles: %v", indexes, h.st.Keys())
	}
	sid, _ := h.secretID("b", nil)
	wantLoginOK(t)(h.login(defaultAddr, "shared", sid))
	resp, err := h.login(defaultAddr, bID, sid)
	wantLoginDenied(t, resp, err, "invalid role or secret ID")
}

func TestFieldEndpoints(t *testing.T) {
	for _, tc := range []struct {
		path   string
		input  map[string]any
		after  map[string]any
		reset  map[string]any
		badIn  map[string]any
		badMsg string
	}{
		{"policies", map[string]any{"token_policies": "B,a"},
			map[string]any{"policies": []string{"a", "b"}, "token_policies": []string{"a", "b"}},
			map[string]any{"policies": []string{}, "token_policies": []string{}}, map[string]any{"policies": 5.5}, `"policies"`},
		{"secret-id-num-uses", map[string]any{"secret_id_num_uses": 4}, map[string]any{"secret_id_num_uses": 4},
			map[string]any{"secret_id_num_uses": 0}, map[string]any{"secret_id_num_uses": -4}, "cannot be negative"},
		{"secret-id-ttl", map[string]any{"secret_id_ttl": "5m"}, map[string]any{"secret_id_ttl": int64(300)},
			map[string]any{"secret_id_ttl": int64(0)}, map[string]any{"secret_id_ttl": "soon"}, `"secret_id_ttl"`},
		{"token-ttl", map[string]any{"token_ttl": 30}, map[string]any{"token_ttl": int64(30)},
			map[string]any{"token_ttl": int64(0)}, map[string]any{"token_ttl": "2h"}, "cannot be greater than 'token_max_ttl'"},
		{"token-max-ttl", map[string]any{"token_max_ttl": "2h"}, map[string]any{"token_max_ttl": int64(7200)},
			map[string]any{"token_max_ttl": int64(0)}, map[string]any{"token_max_ttl": "1s"}, "cannot be greater than 'token_max_ttl'"},
		{"token-num-uses", map[string]any{"token_num_uses": 2}, map[string]any{"token_num_uses": 2},
			map[string]any{"token_num_uses": 0}, map[string]any{"token_num_uses": "x"}, `"token_num_uses"`},
		{"bind-secret-id", map[string]any{"bind_secret_id": "false"}, map[string]any{"bind_secret_id": false},
			map[string]any{"bind_secret_id": true}, map[string]any{"bind_secret_id": "nah"}, `"bind_secret_id"`},
		{"secret-id-bound-cidrs", map[string]any{"secret_id_bound_cidrs": "10.0.0.5/8"}, map[string]any{"secret_id_bound_cidrs": []string{"10.0.0.0/8"}},
			map[string]any{"secret_id_bound_cidrs": []string{}}, map[string]any{"secret_id_bound_cidrs": "x/1"}, "invalid CIDR block"},
		{"token-bound-cidrs", map[string]any{"token_bound_cidrs": []any{"2001:db8::1"}}, map[string]any{"token_bound_cidrs": []string{"2001:db8::1"}},
			map[string]any{"token_bound_cidrs": []string{}}, map[string]any{"token_bound_cidrs": 7}, `"token_bound_cidrs"`},
		{"period", map[string]any{"period": "1h"}, map[string]any{"period": int64(3600), "token_period": int64(3600)},
			map[string]any{"period": int64(0), "token_period": int64(0)}, map[string]any{"token_period": "30h"}, "maximum lease TTL"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h := newHarness(t)
			// token_ttl 1m and token_max_ttl 1h make both ttl checks bite.
			h.createRole("r", map[string]any{"token_ttl": "1m", "token_max_ttl": "1h", "secret_id_bound_cidrs": "10.0.0.0/8"})
			p := "role/r/" + tc.path
			h.must(engine.Update, p, tc.input)
			if got := h.must(engine.Read, p, nil).Data; !reflect.DeepEqual(got, tc.after) {
				t.Fatalf("after update %v, want %v", got, tc.after)
			}
			_, err := h.do(engine.Update, p, tc.badIn)
			wantErr(t, err, fail.Invalid, tc.badMsg)
			_, err = h.do(engine.Update, p, map[string]any{"unrelated": 1})
			wantErr(t, err, fail.Invalid, "missing ")
			if got := h.must(engine.Read, p, nil).Data; !reflect.DeepEqual(got, tc.after) {
				t.Fatalf("refused update changed %v", got)
			}
			h.must(engine.Delete, p, nil)
			if got := h.must(engine.Read, p, nil).Data; !reflect.DeepEqual(got, tc.reset) {
				t.Fatalf("after delete %v, want %v", got, tc.reset)
			}
			if r := h.must(engine.Read, "role/nope/"+tc.path, nil); r != nil {
				t.Fatalf("unknown role read %+v", r)
			}
			_, err = h.do(engine.Update, "role/nope/"+tc.path, tc.input)
			wantErr(t, err, fail.NotFound, "does not exist")
		})
	}

	// Removing the last constraint is refused.
	h := newHarness(t)
	h.createRole("r", map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": "10.0.0.0/8"})
	_, err := h.do(engine.Delete, "role/r/secret-id-bound-cidrs", nil)
	wantErr(t, err, fail.Invalid, "at least one constraint")
}

func TestRouting(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", nil)
	for _, tc := range []struct {
		op   engine.Operation
		path string
		kind fail.Kind
		msg  string
	}{
		{engine.Read, "nope", fail.NotFound, `no handler for route "auth/approle/nope". route entry not found.`},
		{engine.Read, "role/r/nope", fail.NotFound, "no handler for route"},
		{engine.Read, "role/r/secret-id/lookup/x", fail.NotFound, "no handler for route"},
		{engine.Read, "tidy", fail.NotFound, "no handler for route"},
		{engine.Read, "login", fail.Unsupported, "unsupported operation"},
		{engine.Delete, "role", fail.Unsupported, "unsupported operation"},
		{engine.Read, "role/r/secret-id", fail.Unsupported, "unsupported operation"},
		{engine.List, "role/r", fail.Unsupported, "unsupported operation"},
		{engine.Patch, "role/r", fail.Unsupported, "unsupported operation"},
		{engine.Read, "tidy/secret-id", fail.Unsupported, "unsupported operation"},
	} {
		_, err := h.do(tc.op, tc.path, nil)
		wantErr(t, err, tc.kind, tc.msg)
	}
	// Create is an update wherever create and update are not told apart.
	if r := h.must(engine.Create, "role/r/secret-id", nil); r == nil || r.Data["secret_id"] == "" {
		t.Fatalf("create on secret-id: %+v", r)
	}

	// Only the login needs no token; nothing needs sudo.
	for _, path := range []string{"login", "login/", "tidy/secret-id", "role", "role/r", "role/r/secret-id", "other"} {
		for _, op := range []engine.Operation{engine.Read, engine.Update, engine.List, engine.Delete} {
			p := h.b.Routes().PathOf(path, op)
			if p.Unauthenticated != (path == "login") || p.Sudo {
				t.Fatalf("%s %s: unauthenticated %v, sudo %v", op, path, p.Unauthenticated, p.Sudo)
			}
		}
	}
	ctx := context.Background()
	for path, want := range map[string]bool{"role/r": true, "role/R": true, "role/x": false, "role/a*b": false, "role/x/secret-id": true, "login": true} {
		got, err := engine.Exists(ctx, h.b.Routes(), &engine.Request{Path: path, Storage: h.st})
		if err != nil || got != want {
			t.Errorf("Exists(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := New(engine.MountConfig{}, Options{HMACKey: secret.New(make([]byte, 16))}); err == nil {
		t.Fatal("a short HMAC key was accepted")
	}
	b, err := Factory(Options{HMACKey: secret.New(make([]byte, 32))})(context.Background(), engine.MountConfig{Path: "auth/approle/"})
	if err != nil {
		t.Fatal(err)
	}
	if ab := b.(*Backend); ab.maxLease != systemMaxLeaseTTL || ab.now == nil {
		t.Fatalf("defaults: %+v", ab)
	}
}
