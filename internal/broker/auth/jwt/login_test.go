package jwt

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestLoginSuccess(t *testing.T) {
	e := newEnv(t)
	for _, s := range []signKey{rsaSigner, ecSigner} {
		t.Run(string(s.alg), func(t *testing.T) {
			auth, err := e.login(t, s.sign(t, e.claims()))
			if err != nil {
				t.Fatal(err)
			}
			want := &engine.Auth{
				DisplayName: "organization:acme:project:p:workspace:w",
				Alias:       "organization:acme:project:p:workspace:w",
				Policies:    []string{"deploy", "read"},
				Metadata: map[string]string{
					"role":                     "ci",
					"project":                  "p",
					"attempt":                  "2",
					"terraform_run_id":         "run-abc",
					"terraform_run_phase":      "plan",
					"terraform_workspace_id":   "ws-123",
					"terraform_full_workspace": "organization:acme:project:p:workspace:w",
				},
				TTL:         10 * time.Minute,
				MaxTTL:      time.Hour,
				BoundCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
				Renewable:   true,
				RunAttested: true,
			}
			if !reflect.DeepEqual(auth, want) {
				t.Fatalf("auth = %+v\nwant   %+v", auth, want)
			}
		})
	}
}

func TestLoginTokenFields(t *testing.T) {
	e := newEnv(t)
	e.write(t, "role/ci", map[string]any{
		"token_no_default_policy": true, "token_explicit_max_ttl": "2h", "token_period": "30m",
		"token_num_uses": 5, "token_type": "service", "token_bound_cidrs": "",
	})
	auth, err := e.loginFrom(t, netip.Addr{}, map[string]any{"role": "ci", "jwt": rsaSigner.sign(t, e.claims())})
	if err != nil {
		t.Fatal(err)
	}
	if !auth.NoDefaultPolicy || auth.ExplicitMaxTTL != 2*time.Hour || auth.Period != 30*time.Minute ||
		auth.NumUses != 5 || auth.TokenType != "service" || auth.BoundCIDRs != nil {
		t.Fatalf("auth = %+v", auth)
	}
}

func TestLoginStaticKeys(t *testing.T) {
	e := bareEnv(t)
	e.write(t, "config", map[string]any{"jwt_validation_pubkeys": []any{pemPublic(t, ecKey.Public()), pemPublic(t, rsaKey.Public())}})
	e.write(t, "role/ci", ciRole())
	for _, s := range []signKey{rsaSigner, ecSigner, {alg: jose.ES256, priv: ecKey} /* no kid */} {
		if _, err := e.login(t, s.sign(t, e.claims())); err != nil {
			t.Fatalf("%s kid %q: %v", s.alg, s.kid, err)
		}
	}
	_, err := e.login(t, otherSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, "error validating token: error verifying token signature: no known key successfully validated the token signature")
}

func TestLoginJWKSURL(t *testing.T) {
	e := bareEnv(t)
	e.write(t, "config", map[string]any{"jwks_url": e.idp.srv.URL + "/.well-known/jwks"})
	e.write(t, "role/ci", ciRole())
	if _, err := e.login(t, ecSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
}

// TestLoginBadTokens is the bad-input list from the JWT advisories (§10):
// each token is refused with Vault's status and message, and no Auth.
func TestLoginBadTokens(t *testing.T) {
	e := newEnv(t)
	pubPEM := []byte(pemPublic(t, rsaKey.Public()))
	with := func(k string, v any) map[string]any { c := e.claims(); c[k] = v; return c }
	without := func(k string) map[string]any { c := e.claims(); delete(c, k); return c }
	now := e.clock.Now()

	tests := []struct {
		name  string
		token string
		msg   string
	}{
		{"alg none", noneToken(t, e.claims()), `unexpected signature algorithm "none"`},
		{"HS256 keyed with the RSA public key PEM", hmacToken(t, pubPEM, "rsa-1", e.claims()), `unexpected signature algorithm "HS256"`},
		{"unknown kid", signKey{kid: "nope", alg: jose.RS256, priv: otherKey}.sign(t, e.claims()), `no key with kid "nope" in the key set`},
		{"known kid, another key", otherSigner.sign(t, e.claims()), "failed to verify id token signature"},
		{"kid of the EC key on an RSA signature", signKey{kid: "ec-1", alg: jose.RS256, priv: rsaKey}.sign(t, e.claims()), "failed to verify id token signature"},
		{"not a JWT", "not.a.jwt", "error verifying token signature"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, "error verifying token signature"},
		{"wrong iss", rsaSigner.sign(t, with("iss", "https://evil.example")), "invalid issuer (iss) claim"},
		{"iss not a string", rsaSigner.sign(t, with("iss", 7)), "invalid issuer (iss) claim: not a string"},
		{"single-string aud not bound", rsaSigner.sign(t, with("aud", "other")), "invalid audience (aud) claim"},
		{"list aud none bound", rsaSigner.sign(t, with("aud", []string{"a", "b"})), "invalid audience (aud) claim"},
		{"aud of wrong type", rsaSigner.sign(t, with("aud", 5)), "invalid audience (aud) claim"},
		{"no exp", rsaSigner.sign(t, without("exp")), "no expiration time (exp) claim in token"},
		{"exp not a number", rsaSigner.sign(t, with("exp", "tomorrow")), "invalid expiration time (exp) claim: not a number"},
		{"exp far out of range", rsaSigner.sign(t, with("exp", 1e300)), "invalid expiration time (exp) claim: out of range"},
		{"iat in the future", rsaSigner.sign(t, with("iat", now.Add(61*time.Second).Unix())), "invalid issued at (iat) claim: token issued in the future"},
		{"payload not an object", rsaSigner.sign(t, nil), "claims are not a JSON object"},
		{"user claim not a string", rsaSigner.sign(t, with("terraform_full_workspace", 12)), `claim "terraform_full_workspace" could not be converted to string`},
		{"user claim missing", rsaSigner.sign(t, without("terraform_full_workspace")), `claim "terraform_full_workspace" not found in token`},
		{"user claim empty", rsaSigner.sign(t, with("terraform_full_workspace", "")), `claim "terraform_full_workspace" is empty`},
		{"mapped claim an object", rsaSigner.sign(t, with("terraform_project_name", map[string]any{"a": 1})), "error converting claim 'terraform_project_name' to string"},
		{"bound claim missing", rsaSigner.sign(t, without("terraform_organization_name")), `error validating claims: claim "terraform_organization_name" is missing`},
		{"bound claim null", rsaSigner.sign(t, with("terraform_organization_name", nil)), `claim "terraform_organization_name" is missing`},
		{"bound claim differs", rsaSigner.sign(t, with("terraform_organization_name", "acme-evil")), `claim "terraform_organization_name" does not match any associated bound claim values`},
		{"bound claim an object", rsaSigner.sign(t, with("terraform_organization_name", map[string]any{})), "received claim is not a string, bool, int or list"},
		{"token too large", rsaSigner.sign(t, with("pad", string(make([]byte, maxTokenBytes)))), "token is larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.login(t, tt.token)
			wantErr(t, err, fail.Invalid, tt.msg)
		})
	}
}

// TestLoginHMACWithJWKS repeats the key-confusion attack against a JWKS
// config, keyed with every byte form of the published key.
func TestLoginHMACWithJWKS(t *testing.T) {
	e := bareEnv(t)
	e.write(t, "config", map[string]any{"jwks_url": e.idp.srv.URL + "/.well-known/jwks"})
	e.write(t, "role/ci", ciRole())
	jwk, _ := json.Marshal(rsaSigner.public())
	for _, secret := range [][]byte{[]byte(pemPublic(t, rsaKey.Public())), jwk, rsaKey.N.Bytes()} {
		_, err := e.login(t, hmacToken(t, secret, "rsa-1", e.claims()))
		wantErr(t, err, fail.Invalid, `unexpected signature algorithm "HS256"`)
	}
	// and against static keys
	e.write(t, "config", map[string]any{"jwt_validation_pubkeys": pemPublic(t, rsaKey.Public())})
	_, err := e.login(t, hmacToken(t, []byte(pemPublic(t, rsaKey.Public())), "", e.claims()))
	wantErr(t, err, fail.Invalid, `unexpected signature algorithm "HS256"`)
}

func TestLoginConfiguredAlgorithms(t *testing.T) {
	e := newEnv(t)
	e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL, "jwt_supported_algs": "ES256"})
	if _, err := e.login(t, ecSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
	_, err := e.login(t, rsaSigner.sign(t, e.claims()))
	wantErr(t, err, fail.Invalid, `unexpected signature algorithm "RS256"`)
}

// TestLoginTimes pins the time window to the second. With the defaults a
// token is accepted until exp+60s (clock_skew_leeway) and from nbf-60s;
// expiration_leeway (150) does not stretch a token that has an exp, as in
// hashicorp/cap.
func TestLoginTimes(t *testing.T) {
	now := start
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tests := []struct {
		name   string
		role   map[string]any
		claims map[string]any // replaces exp/nbf/iat
		ok     bool
	}{
		{"expired 60s ago: inside skew", nil, map[string]any{"exp": at(-60 * time.Second)}, true},
		{"expired 61s ago: outside skew", nil, map[string]any{"exp": at(-61 * time.Second)}, false},
		{"expired 150s ago: expiration_leeway does not apply", nil, map[string]any{"exp": at(-150 * time.Second)}, false},
		{"expired 210s ago: nor leeway+skew", nil, map[string]any{"exp": at(-210 * time.Second)}, false},
		{"exp 0", nil, map[string]any{"exp": 0}, false},
		{"skew disabled: exp now", map[string]any{"clock_skew_leeway": -1}, map[string]any{"exp": at(0)}, true},
		{"skew disabled: expired 1s ago", map[string]any{"clock_skew_leeway": -1}, map[string]any{"exp": at(-time.Second)}, false},
		{"skew 300: expired 300s ago", map[string]any{"clock_skew_leeway": 300}, map[string]any{"exp": at(-300 * time.Second)}, true},
		{"nbf 60s ahead: inside skew", nil, map[string]any{"exp": at(time.Hour), "nbf": at(60 * time.Second)}, true},
		{"nbf 61s ahead: outside skew", nil, map[string]any{"exp": at(time.Hour), "nbf": at(61 * time.Second)}, false},
		{"nbf far ahead", nil, map[string]any{"exp": at(48 * time.Hour), "nbf": at(24 * time.Hour)}, false},
		{"iat 61s ahead", nil, map[string]any{"exp": at(time.Hour), "nbf": at(0), "iat": at(61 * time.Second)}, false},
		{"no nbf: iat stands in", nil, map[string]any{"exp": at(time.Hour), "iat": at(61 * time.Second)}, false},
		// Without nbf and iat, cap takes nbf = exp - not_before_leeway.
		{"only exp, 210s ahead", nil, map[string]any{"exp": at(210 * time.Second)}, true},
		{"only exp, 211s ahead", nil, map[string]any{"exp": at(211 * time.Second)}, false},
		{"only exp, not_before_leeway 3600", map[string]any{"not_before_leeway": 3600}, map[string]any{"exp": at(time.Hour)}, true},
		{"fractional exp truncates", nil, map[string]any{"exp": float64(at(-60*time.Second)) + 0.9}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.role != nil {
				e.write(t, "role/ci", tt.role)
			}
			c := e.claims()
			delete(c, "exp")
			delete(c, "nbf")
			delete(c, "iat")
			for k, v := range tt.claims {
				c[k] = v
			}
			_, err := e.login(t, rsaSigner.sign(t, c))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok {
				wantErr(t, err, fail.Invalid, "error validating token: invalid ")
			}
		})
	}
}

func TestLoginAudience(t *testing.T) {
	tests := []struct {
		name  string
		bound any // role bound_audiences; nil binds none
		aud   any // token aud; nil leaves it out
		msg   string
	}{
		{"string aud matches", []any{"runcred"}, "runcred", ""},
		{"string aud does not match (CVE-2024-5798)", []any{"runcred"}, "vault", "invalid audience (aud) claim"},
		{"list aud, one matches", []any{"x", "runcred"}, []any{"other", "runcred"}, ""},
		{"list aud, none matches", []any{"runcred"}, []any{"other", "vault"}, "invalid audience (aud) claim"},
		{"empty list aud, audiences bound", []any{"runcred"}, []any{}, "invalid audience (aud) claim"},
		{"no aud, audiences bound", []any{"runcred"}, nil, "invalid audience (aud) claim"},
		{"string aud, none bound", nil, "runcred", "audience claim found in JWT but no audiences bound to the role"},
		{"empty string aud, none bound", nil, "", "audience claim found in JWT but no audiences bound to the role"},
		{"list aud, none bound", nil, []any{"runcred"}, "audience claim found in JWT but no audiences bound to the role"},
		{"empty list aud, none bound", nil, []any{}, ""},
		{"no aud, none bound", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := bareEnv(t)
			e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL})
			r := ciRole()
			delete(r, "bound_audiences")
			if tt.bound != nil {
				r["bound_audiences"] = tt.bound
			}
			e.write(t, "role/ci", r)
			c := e.claims()
			delete(c, "aud")
			if tt.aud != nil {
				c["aud"] = tt.aud
			}
			_, err := e.login(t, rsaSigner.sign(t, c))
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantErr(t, err, fail.Invalid, tt.msg)
		})
	}
}

func TestLoginSubject(t *testing.T) {
	e := newEnv(t)
	e.write(t, "role/ci", map[string]any{"bound_subject": "organization:acme:project:p:workspace:w:run_phase:plan"})
	if _, err := e.login(t, rsaSigner.sign(t, e.claims())); err != nil {
		t.Fatal(err)
	}
	c := e.claims()
	c["sub"] = "organization:acme:project:p:workspace:w:run_phase:apply"
	_, err := e.login(t, rsaSigner.sign(t, c))
	wantErr(t, err, fail.Invalid, "error validating token: invalid subject (sub) claim")
}

func TestLoginOrderOfChecks(t *testing.T) {
	e := newEnv(t)
	e.write(t, "role/web", map[string]any{"user_claim": "sub", "allowed_redirect_uris": "https://x/cb"}) // oidc
	good := rsaSigner.sign(t, e.claims())
	outside := netip.MustParseAddr("192.0.2.1")

	tests := []struct {
		name string
		addr netip.Addr
		data map[string]any
		kind fail.Kind
		msg  string
	}{
		{"missing role", inside, map[string]any{"jwt": good}, fail.Invalid, "missing role"},
		{"role not found", inside, map[string]any{"role": "nope", "jwt": good}, fail.Invalid, `role "nope" could not be found`},
		{"bad role name is not found", inside, map[string]any{"role": "../config", "jwt": good}, fail.Invalid, `role "../config" could not be found`},
		{"oidc role before missing token", inside, map[string]any{"role": "web"}, fail.Invalid, "role with oidc role_type is not allowed"},
		{"missing token", inside, map[string]any{"role": "ci"}, fail.Invalid, "missing token"},
		{"jwt not a string", inside, map[string]any{"role": "ci", "jwt": []any{}}, fail.Invalid, `"jwt"`},
		{"CIDR before signature", outside, map[string]any{"role": "ci", "jwt": "garbage"}, fail.Denied, "permission denied"},
		{"CIDR with a good token", outside, map[string]any{"role": "ci", "jwt": good}, fail.Denied, "permission denied"},
		{"CIDR without an address", netip.Addr{}, map[string]any{"role": "ci", "jwt": good}, fail.Denied, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.loginFrom(t, tt.addr, tt.data)
			wantErr(t, err, tt.kind, tt.msg)
		})
	}

	// Role names are case-insensitive, as in Vault, and an IPv4-mapped
	// IPv6 address is the IPv4 address.
	if _, err := e.loginFrom(t, netip.MustParseAddr("::ffff:10.9.9.9"), map[string]any{"role": "CI", "jwt": good}); err != nil {
		t.Fatal(err)
	}
	e.write(t, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL, "default_role": "ci"})
	if _, err := e.loginFrom(t, inside, map[string]any{"jwt": good}); err != nil {
		t.Fatalf("default_role: %v", err)
	}
}

func TestLoginUnconfigured(t *testing.T) {
	e := bareEnv(t)
	_, err := e.login(t, "x")
	wantErr(t, err, fail.Invalid, "could not load configuration")
}

func TestLoginBoundClaims(t *testing.T) {
	tests := []struct {
		name      string
		claimType string
		bound     map[string]any
		claims    map[string]any
		ok        bool
	}{
		{"list claim: any element matches", "string", map[string]any{"ref": "main"}, map[string]any{"ref": []any{"evil", "main"}}, true},
		{"list claim: no element matches", "string", map[string]any{"ref": "main"}, map[string]any{"ref": []any{"evil", "dev"}}, false},
		{"list expected: any value matches", "string", map[string]any{"ref": []any{"dev", "main"}}, map[string]any{"ref": "main"}, true},
		{"string claim is exact", "string", map[string]any{"repo": "org/app*"}, map[string]any{"repo": "org/app-x"}, false},
		{"glob prefix", "glob", map[string]any{"repo": "repo:org/app*"}, map[string]any{"repo": "repo:org/app"}, true},
		// Vault semantics, kept on purpose: '*' runs across ':' and '/', so
		// a prefix glob admits a look-alike repository.
		{"glob crosses ':' and '/' (Vault semantics)", "glob", map[string]any{"repo": "repo:org/app*"}, map[string]any{"repo": "repo:org/app-evil:ref:x/y"}, true},
		{"glob mismatch", "glob", map[string]any{"repo": "repo:org/app*"}, map[string]any{"repo": "repo:other/app"}, false},
		{"glob does not match numbers", "glob", map[string]any{"n": "1*"}, map[string]any{"n": 12}, false},
		{"number", "string", map[string]any{"n": 42}, map[string]any{"n": 42}, true},
		{"number vs string", "string", map[string]any{"n": "42"}, map[string]any{"n": 42}, false},
		{"number with fraction does not truncate", "string", map[string]any{"n": 5}, map[string]any{"n": 5.9}, false},
		{"bool", "string", map[string]any{"b": true}, map[string]any{"b": true}, true},
		{"bool vs string", "string", map[string]any{"b": "true"}, map[string]any{"b": true}, false},
		{"JSON pointer", "string", map[string]any{"/ns/env": "prod"}, map[string]any{"ns": map[string]any{"env": "prod"}}, true},
		{"JSON pointer into a list", "string", map[string]any{"/envs/1": "prod"}, map[string]any{"envs": []any{"dev", "prod"}}, true},
		{"JSON pointer missing", "string", map[string]any{"/ns/env": "prod"}, map[string]any{"ns": "prod"}, false},
		{"JSON pointer escapes", "string", map[string]any{"/a~1b/c~0d": "x"}, map[string]any{"a/b": map[string]any{"c~d": "x"}}, true},
		{"every bound claim must match", "string", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1", "b": "3"}, false},
		{"nested list elements never match", "string", map[string]any{"a": "x"}, map[string]any{"a": []any{[]any{"x"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.write(t, "role/ci", map[string]any{"bound_claims_type": tt.claimType, "bound_claims": tt.bound})
			c := e.claims()
			for k, v := range tt.claims {
				c[k] = v
			}
			_, err := e.login(t, rsaSigner.sign(t, c))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok {
				wantErr(t, err, fail.Invalid, "error validating claims: claim ")
			}
		})
	}
}

func TestLoginRunMetadata(t *testing.T) {
	e := newEnv(t)
	// A mapping cannot put a different run under the run's own names: one
	// stored before role writes refused it is overridden by the token's.
	stored := ciRole()
	stored["claim_mappings"] = map[string]any{"terraform_project_name": "project"}
	e.write(t, "role/ci", stored)
	storedRole, err := loadRole(context.Background(), e.st, "ci")
	if err != nil {
		t.Fatal(err)
	}
	storedRole.ClaimMappings["sub"] = "terraform_run_id"
	raw, _ := json.Marshal(storedRole)
	if err := e.st.Put(context.Background(), roleKeyPrefix+"ci", raw); err != nil {
		t.Fatal(err)
	}
	auth, err := e.login(t, rsaSigner.sign(t, e.claims()))
	if err != nil {
		t.Fatal(err)
	}
	if got := auth.Metadata["terraform_run_id"]; got != "run-abc" || !auth.RunAttested {
		t.Fatalf("terraform_run_id = %q (attested %v); want the token's run-abc", got, auth.RunAttested)
	}

	// Without both run claims nothing is copied.
	c := e.claims()
	delete(c, "terraform_run_phase")
	auth, err = e.login(t, rsaSigner.sign(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := auth.Metadata["terraform_workspace_id"]; ok {
		t.Fatalf("metadata %v has run claims without a run phase", auth.Metadata)
	}
	if auth.Metadata["role"] != "ci" || auth.Metadata["project"] != "p" {
		t.Fatalf("metadata = %v", auth.Metadata)
	}
}
