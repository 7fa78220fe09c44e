package jwt

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestRoleRejects(t *testing.T) {
	jwtRole := func(extra map[string]any) map[string]any {
		m := map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"oidc by default needs redirect URIs", map[string]any{"user_claim": "sub", "bound_subject": "s"}, "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."},
		{"bad role_type", jwtRole(map[string]any{"role_type": "saml"}), "invalid 'role_type': saml"},
		{"no user claim", map[string]any{"role_type": "jwt", "bound_subject": "s"}, "a user claim must be defined on the role"},
		{"no bound constraint", map[string]any{"role_type": "jwt", "user_claim": "sub"}, "must have at least one bound constraint when creating/updating a role"},
		{"mapping to role", jwtRole(map[string]any{"claim_mappings": map[string]any{"sub": "role"}}), `metadata key "role" is reserved and may not be a mapping destination`},
		{"two mappings to one key", jwtRole(map[string]any{"claim_mappings": map[string]any{"a": "x", "b": "x"}}), `multiple keys are mapped to metadata key "x"`},
		// The token fields are engine.TokenParams, tested there; these rows
		// check jwt hands them over.
		{"ttl above max ttl", jwtRole(map[string]any{"token_ttl": "2h", "token_max_ttl": "1h"}), "'token_ttl' cannot be greater than 'token_max_ttl'"},
		{"bad token type", jwtRole(map[string]any{"token_type": "default-batch"}), `invalid 'token_type' value "default-batch"`},
		{"period above mount max", jwtRole(map[string]any{"token_period": "800h"}), "'period' of \"800h0m0s\" is greater than the backend's maximum lease TTL"},
		{"bad bound_claims_type", jwtRole(map[string]any{"bound_claims_type": "regex"}), "invalid 'bound_claims_type': regex"},
		{"glob with a number", jwtRole(map[string]any{"bound_claims_type": "glob", "bound_claims": map[string]any{"n": []any{"a*", 1}}}), "claim is not a string: 1"},
		{"bound claim object", jwtRole(map[string]any{"bound_claims": map[string]any{"o": map[string]any{}}}), "bound claim is not a string, bool, int or list"},
		{"bound claims not a map", jwtRole(map[string]any{"bound_claims": "a=b"}), `"bound_claims"`},
		{"root policy", jwtRole(map[string]any{"token_policies": []any{"deploy", " Root"}}), `the "root" policy cannot be granted`},
		{"bad leeway", jwtRole(map[string]any{"clock_skew_leeway": -5}), `"clock_skew_leeway"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := bareEnv(t)
			_, err := e.call(engine.Update, "role/r", tt.data)
			wantErr(t, err, fail.Invalid, tt.msg)
			if keys := e.st.Keys(); len(keys) != 0 {
				t.Fatalf("a refused role was stored: %v", keys)
			}
		})
	}
}

func TestRoleNames(t *testing.T) {
	e := bareEnv(t)
	for _, bad := range []string{".hidden", "-x", "a b", "a%2f", "é"} {
		_, err := e.call(engine.Update, "role/"+bad, map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"})
		wantErr(t, err, fail.Invalid, "invalid role name")
	}
	_, err := e.call(engine.Update, "role/", nil)
	wantErr(t, err, fail.Unsupported, "unsupported operation")
	_, err = e.call(engine.Read, "role/a/b", nil)
	wantErr(t, err, fail.NotFound, `no handler for route "auth/jwt/role/a/b". route entry not found.`)

	e.write(t, "role/deploy.prod@x_1", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"})
	if keys := e.st.Keys(); !reflect.DeepEqual(keys, []string{"role/deploy.prod@x_1"}) {
		t.Fatalf("stored keys = %v", keys)
	}
	// Names in paths must be lower case: ACL rules match the path as sent.
	_, err = e.call(engine.Update, "role/Deploy", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"})
	wantErr(t, err, fail.Invalid, "role names are case-insensitive and must be given in lower case")
}

func TestRoleReadTypes(t *testing.T) {
	e := bareEnv(t)
	resp := e.write(t, "role/ci", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "a,b", "bound_claims_type": "glob",
		"bound_claims": map[string]any{"repo": []any{"org/*"}, "env": "prod"}, "claim_mappings": "repo=repository",
		"clock_skew_leeway": -1, "expiration_leeway": "5m", "policies": "dev,Ops", "ttl": "1h", "max_ttl": 7200,
		"token_explicit_max_ttl": "3h", "token_num_uses": "3", "token_bound_cidrs": "10.0.0.1, 2001:db8::/32, 10.1.2.3/8",
		"token_no_default_policy": "true", "token_type": "service", "token_max_ttl": "1000h",
	})
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("write response = %+v; want the max ttl warning", resp)
	}
	got, err := e.call(engine.Read, "role/ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"role_type": "jwt", "user_claim": "sub", "user_claim_json_pointer": false, "groups_claim": "",
		"bound_audiences": []string{"a", "b"}, "bound_subject": "", "bound_claims_type": "glob",
		"bound_claims":      map[string]any{"repo": []any{"org/*"}, "env": "prod"},
		"claim_mappings":    map[string]string{"repo": "repository"},
		"clock_skew_leeway": int64(-1), "expiration_leeway": int64(300), "not_before_leeway": int64(0),
		"allowed_redirect_uris": []string{}, "oidc_scopes": []string{}, "jwt_single_use": false,
		"token_policies": []string{"dev", "ops"}, "token_ttl": int64(3600), "token_max_ttl": int64(3600000),
		"token_explicit_max_ttl": int64(10800), "token_period": int64(0), "token_num_uses": 3,
		"token_bound_cidrs":       []string{"10.0.0.1", "2001:db8::/32", "10.0.0.0/8"},
		"token_no_default_policy": true, "token_type": "service",
	}
	if !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("read:\n got %#v\nwant %#v", got.Data, want)
	}
	// Numbers in bound_claims come back as JSON numbers.
	e.write(t, "role/n", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_claims": map[string]any{"n": 42}})
	got, _ = e.call(engine.Read, "role/n", nil)
	if v := got.Data["bound_claims"].(map[string]any)["n"]; v != json.Number("42") {
		t.Fatalf("bound_claims.n = %#v; want json.Number 42", v)
	}
}

func TestRoleUpdateKeepsFields(t *testing.T) {
	e := bareEnv(t)
	e.write(t, "role/ci", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s", "token_policies": "a"})
	e.write(t, "role/ci", map[string]any{"token_ttl": 60})
	r, err := loadRole(context.Background(), e.st, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if r.RoleType != "jwt" || r.BoundSubject != "s" || !reflect.DeepEqual(r.TokenPolicies, []string{"a"}) || seconds(r.TokenTTL) != 60 {
		t.Fatalf("role after partial update = %+v", r)
	}
	// Removing the only bound constraint is refused, and the role is left as it was.
	_, err = e.call(engine.Update, "role/ci", map[string]any{"bound_subject": ""})
	wantErr(t, err, fail.Invalid, "must have at least one bound constraint")
	if r, _ := loadRole(context.Background(), e.st, "ci"); r.BoundSubject != "s" {
		t.Fatalf("refused update changed the role: %+v", r)
	}
	// Switching to glob re-checks the stored bound_claims.
	e.write(t, "role/ci", map[string]any{"bound_claims": map[string]any{"n": true}})
	_, err = e.call(engine.Update, "role/ci", map[string]any{"bound_claims_type": "glob"})
	wantErr(t, err, fail.Invalid, "claim is not a string: true")
}

func TestRoleListDeleteExists(t *testing.T) {
	e := bareEnv(t)
	ctx := context.Background()
	resp, err := e.call(engine.List, "role/", nil)
	if resp != nil || err != nil {
		t.Fatalf("empty list = %+v, %v; want nil, nil", resp, err)
	}
	req := &engine.Request{Operation: engine.Update, Path: "role/b", Storage: e.st}
	if ok, err := engine.Exists(ctx, e.b.Routes(), req); ok || err != nil {
		t.Fatalf("Exists before create = %v, %v", ok, err)
	}
	for _, n := range []string{"b", "a"} {
		e.write(t, "role/"+n, map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"})
	}
	if ok, err := engine.Exists(ctx, e.b.Routes(), req); !ok || err != nil {
		t.Fatalf("Exists after create = %v, %v", ok, err)
	}
	for _, p := range []string{"role", "role/"} {
		resp, err = e.call(engine.List, p, nil)
		if err != nil || !reflect.DeepEqual(resp.Data["keys"], []string{"a", "b"}) {
			t.Fatalf("list %s = %+v, %v", p, resp, err)
		}
	}
	if _, err := e.call(engine.Delete, "role/a", nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.call(engine.Read, "role/a", nil); resp != nil || err != nil {
		t.Fatalf("read after delete = %+v, %v; want nil, nil", resp, err)
	}
	for _, p := range []string{"config", "login", "role", "role/bad name", "role/", "role/a/b"} {
		ok, err := engine.Exists(ctx, e.b.Routes(), &engine.Request{Path: p, Storage: e.st})
		if err != nil || ok != (p == "config" || p == "login" || p == "role") {
			t.Fatalf("Exists(%s) = %v, %v", p, ok, err)
		}
	}
}
