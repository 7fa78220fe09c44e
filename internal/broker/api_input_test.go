package broker_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestAPIHostileBytes sends bytes PostgreSQL cannot keep in text columns
// (invalid UTF-8, NUL) through every way they reached one: each must be a
// 400, or be stored safely, never a 500. Found by FuzzHandlerRequest's
// seeds replayed against PostgreSQL.
func TestAPIHostileBytes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		mountLeases(t, s, "lt")
		mountKV(t, s)
		for _, tc := range []struct {
			method, path, body string
			want               int
			msg                string
		}{
			{"PUT", "/v1/secret/data/%FF", `{"data":{"a":"b"}}`, 400, "invalid path"},
			{"GET", "/v1/lt/creds/%FF", "", 400, "invalid path"},
			{"PUT", "/v1/sys/mounts/%FF", `{"type":"kv"}`, 400, "invalid path"},
			{"PUT", "/v1/sys/leases/revoke-prefix/%C3", "", 400, "invalid path"},
			{"PUT", "/v1/sys/mounts/nul", `{"type":"kv","description":"a\u0000b"}`, 400, "invalid request: strings may not contain NUL characters"},
			{"PUT", "/v1/sys/leases/lookup", `{"lease_id":"lt/creds/a\u0000"}`, 400, "invalid request: strings may not contain NUL characters"},
			{"POST", "/v1/auth/token/create", `{"display_name":"a\u0000"}`, 400, "invalid request: strings may not contain NUL characters"},
			// Engines keep their data sealed: a NUL in a KV value is fine.
			{"PUT", "/v1/secret/data/nul", `{"data":{"a":"b\u0000c"}}`, 200, ""},
		} {
			code, body := s.raw(t, tc.method, tc.path, s.Root, strings.NewReader(tc.body))
			if code != tc.want || tc.msg != "" && !strings.Contains(body, tc.msg) {
				t.Errorf("%s %s %s: %d %s, want %d %q", tc.method, tc.path, tc.body, code, body, tc.want, tc.msg)
			}
		}

		// Display names are cut to 128 bytes, never inside a character.
		long := "x" + strings.Repeat("é", 100)
		sec, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{DisplayName: long})
		if err != nil {
			t.Fatal(err)
		}
		look, err := s.client(t, sec.Auth.ClientToken).Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if dn := look.Data["display_name"].(string); len(dn) > 128 || !utf8.ValidString(dn) || !strings.HasPrefix(dn, "token-xéé") {
			t.Fatalf("display name %q", dn)
		}

		// A login's display name comes from the credential: a JWT whose
		// user claim holds NUL or long multi-byte text still logs in.
		is := newIssuer(t)
		if err := s.Client.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s.Client, "auth/jwt/config", map[string]any{"oidc_discovery_url": is.URL})
		mustWrite(t, s.Client, "auth/jwt/role/ci", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"runcred"}})
		for sub, want := range map[string]string{"a\x00b": "jwt-ab", long: "jwt-" + long[:123]} {
			c := is.claims(s)
			c["sub"] = sub
			sec, err := s.anon(t).Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": sign(t, is.key, c)})
			if err != nil {
				t.Fatalf("login as %q: %v", sub, err)
			}
			look, err := s.client(t, sec.Auth.ClientToken).Auth().Token().LookupSelf()
			if err != nil || look.Data["display_name"] != want {
				t.Fatalf("display name for %q = %v %v, want %q", sub, look.Data["display_name"], err, want)
			}
		}
		_, err = s.Client.Logical().Write("sys/mounts/x", map[string]any{"type": "kv", "description": "\x00"})
		wantError(t, err, http.StatusBadRequest, "invalid request: strings may not contain NUL characters")
	})
}
