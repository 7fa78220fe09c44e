package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// approleCreds is a role's role_id and one of its secret IDs.
type approleCreds struct{ roleID, secretID, accessor string }

func approleSetup(t *testing.T, s *server, role string, fields map[string]any) approleCreds {
	t.Helper()
	mustWrite(t, s.Client, "auth/approle/role/"+role, fields)
	id := mustRead(t, s.Client, "auth/approle/role/"+role+"/role-id")
	sid := mustWrite(t, s.Client, "auth/approle/role/"+role+"/secret-id", nil)
	for _, k := range []string{"secret_id", "secret_id_accessor", "secret_id_ttl", "secret_id_num_uses"} {
		if _, ok := sid.Data[k]; !ok {
			t.Fatalf("secret-id response lacks %s: %v", k, sid.Data)
		}
	}
	return approleCreds{roleID: id.Data["role_id"].(string), secretID: sid.Data["secret_id"].(string), accessor: sid.Data["secret_id_accessor"].(string)}
}

func (a approleCreds) login(s *server, t *testing.T, mount string) (*vault.Secret, error) {
	t.Helper()
	return s.anon(t).Logical().Write("auth/"+mount+"/login", map[string]any{"role_id": a.roleID, "secret_id": a.secretID})
}

func TestAPIAppRole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		mountLeases(t, s, "lt")
		if err := s.Client.Sys().PutPolicy("ci", `path "lt/creds/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		if err := s.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatal(err)
		}
		ci := approleSetup(t, s, "ci", map[string]any{"token_policies": []string{"ci"}, "secret_id_num_uses": 2, "token_ttl": "20m"})
		_, err := s.Client.Logical().Read("auth/approle/role/ci/secret-id-accessor/lookup")
		wantError(t, err, http.StatusMethodNotAllowed, "unsupported operation")
		look := mustWrite(t, s.Client, "auth/approle/role/ci/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": ci.accessor})
		if n, _ := look.Data["secret_id_num_uses"].(json.Number).Int64(); n != 2 {
			t.Fatalf("secret id lookup = %v", look.Data)
		}

		// Login: a token with the role's policies and its name in metadata.
		sec, err := ci.login(s, t, "approle")
		if err != nil {
			t.Fatal(err)
		}
		a := sec.Auth
		if !slices.Equal(a.Policies, []string{"ci", "default"}) || a.Metadata["role_name"] != "ci" || a.LeaseDuration != 1200 || !a.Renewable {
			t.Fatalf("login auth = %+v", a)
		}
		tc := s.client(t, a.ClientToken)
		self, err := tc.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if self.Data["display_name"] != "approle" {
			t.Errorf("display_name %v, want approle (Vault's)", self.Data["display_name"])
		}
		if self.Data["path"] != "auth/approle/login" || self.Data["meta"].(map[string]any)["role_name"] != "ci" {
			t.Fatalf("lookup-self = %v", self.Data)
		}
		if _, err := tc.Logical().Read("lt/creds/deploy"); err != nil {
			t.Fatalf("token cannot use its policy: %v", err)
		}
		_, err = tc.Logical().Read("sys/mounts")
		wantError(t, err, http.StatusForbidden, "permission denied")

		// secret_id_num_uses=2: the second login spends the last use.
		if _, err := ci.login(s, t, "approle"); err != nil {
			t.Fatalf("second login: %v", err)
		}
		_, err = ci.login(s, t, "approle")
		wantError(t, err, http.StatusBadRequest, "invalid role or secret ID")

		// Other refusals, all 400.
		fresh := mustWrite(t, s.Client, "auth/approle/role/ci/secret-id", nil).Data["secret_id"].(string)
		for _, bad := range []struct {
			body map[string]any
			msg  string
		}{
			{map[string]any{"secret_id": fresh}, "missing role_id"},
			{map[string]any{"role_id": ci.roleID}, "missing secret_id"},
			{map[string]any{"role_id": "not-a-role", "secret_id": fresh}, "invalid role or secret ID"},
			{map[string]any{"role_id": ci.roleID, "secret_id": "not-a-secret"}, "invalid role or secret ID"},
		} {
			_, err := s.anon(t).Logical().Write("auth/approle/login", bad.body)
			wantError(t, err, http.StatusBadRequest, bad.msg)
		}

		// CVE-2023-24999: a secret ID accessor is scoped to its role. Role
		// ci's paths can neither look up nor destroy role other's.
		other := approleSetup(t, s, "other", map[string]any{"token_policies": []string{"default"}})
		for _, op := range []string{"lookup", "destroy"} {
			_, err := s.Client.Logical().Write("auth/approle/role/ci/secret-id-accessor/"+op, map[string]any{"secret_id_accessor": other.accessor})
			wantError(t, err, http.StatusNotFound, `failed to find accessor entry for secret_id_accessor: "`+other.accessor+`"`)
		}
		if _, err := other.login(s, t, "approle"); err != nil {
			t.Fatalf("other role's secret ID was destroyed through role ci: %v", err)
		}
		mustWrite(t, s.Client, "auth/approle/role/other/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": other.accessor})
		_, err = other.login(s, t, "approle")
		wantError(t, err, http.StatusBadRequest, "invalid role or secret ID")

		// Role administration needs a grant; login does not.
		nc := s.client(t, s.policyToken(t, "nobody", `path "lt/*" { capabilities = ["read"] }`))
		_, err = nc.Logical().Read("auth/approle/role/ci/role-id")
		wantError(t, err, http.StatusForbidden, "permission denied")
		_, err = nc.Logical().Write("auth/approle/role/ci/secret-id", nil)
		wantError(t, err, http.StatusForbidden, "permission denied")

		// The method's default TTL is tuned at sys/auth/approle/tune; role
		// "other" sets no token_ttl and so takes it.
		mustWrite(t, s.Client, "sys/auth/approle/tune", map[string]any{"default_lease_ttl": "45m"})
		o2 := approleSetup(t, s, "other", map[string]any{"token_policies": []string{"default"}})
		osec, err := o2.login(s, t, "approle")
		if err != nil || osec.Auth.LeaseDuration != 45*60 {
			t.Fatalf("login after tune: %+v %v", osec, err)
		}

		// Moving the method revokes every token it issued; the roles move with it.
		if err := s.Client.Sys().Remount("auth/approle", "auth/approle2"); err != nil {
			t.Fatal(err)
		}
		_, err = tc.Auth().Token().LookupSelf()
		wantError(t, err, http.StatusForbidden, "permission denied")
		_, err = s.client(t, osec.Auth.ClientToken).Auth().Token().LookupSelf()
		wantError(t, err, http.StatusForbidden, "permission denied")
		_, err = s.anon(t).Logical().Write("auth/approle/login", map[string]any{"role_id": ci.roleID, "secret_id": fresh})
		wantError(t, err, http.StatusNotFound, `no handler for route "auth/approle/login". route entry not found.`)
		moved, err := approleCreds{roleID: ci.roleID, secretID: fresh}.login(s, t, "approle2")
		if err != nil {
			t.Fatalf("login at the new path: %v", err)
		}
		if m, _ := s.client(t, moved.Auth.ClientToken).Auth().Token().LookupSelf(); m.Data["path"] != "auth/approle2/login" {
			t.Fatalf("moved login = %v", m.Data)
		}
	})
}

// issuer is a minimal OIDC provider: a discovery document and a JWKS with
// one ES256 key.
type issuer struct {
	URL string
	key *ecdsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		jwk := jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	return is
}

// sign returns a compact JWS of claims signed with key under kid "k1".
func sign(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// claims are a CI job's token claims, valid now by the server's clock.
func (is *issuer) claims(s *server) map[string]any {
	now := s.Clock.Now()
	return map[string]any{"iss": is.URL, "sub": "repo:acme/app", "aud": "runcred", "ref": "main",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func TestAPIJWT(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		is := newIssuer(t)
		mountLeases(t, s, "lt")
		if err := s.Client.Sys().PutPolicy("ci", `path "lt/creds/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		if err := s.Client.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s.Client, "auth/jwt/config", map[string]any{"oidc_discovery_url": is.URL, "bound_issuer": is.URL})
		role := map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"runcred"},
			"bound_claims": map[string]any{"ref": "main"}, "claim_mappings": map[string]any{"ref": "git_ref"},
			"token_policies": []string{"ci"}, "token_ttl": "10m"}
		mustWrite(t, s.Client, "auth/jwt/role/ci", role)
		role["token_bound_cidrs"] = []string{"10.0.0.0/8"}
		mustWrite(t, s.Client, "auth/jwt/role/vpn", role)
		role["token_bound_cidrs"] = []string{"127.0.0.0/8"}
		mustWrite(t, s.Client, "auth/jwt/role/local", role)
		login := func(role, jwt string) (*vault.Secret, error) {
			return s.anon(t).Logical().Write("auth/jwt/login", map[string]any{"role": role, "jwt": jwt})
		}

		sec, err := login("ci", sign(t, is.key, is.claims(s)))
		if err != nil {
			t.Fatal(err)
		}
		a := sec.Auth
		if !slices.Equal(a.Policies, []string{"ci", "default"}) || a.LeaseDuration != 600 || a.Metadata["role"] != "ci" || a.Metadata["git_ref"] != "main" {
			t.Fatalf("jwt login auth = %+v", a)
		}
		tc := s.client(t, a.ClientToken)
		self, err := tc.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		if self.Data["display_name"] != "jwt-repo:acme/app" || self.Data["path"] != "auth/jwt/login" {
			t.Fatalf("jwt token lookup-self = %v", self.Data)
		}
		if _, err := tc.Logical().Read("lt/creds/deploy"); err != nil {
			t.Fatalf("jwt token cannot use its policy: %v", err)
		}

		// token_bound_cidrs: 127.0.0.1 is outside 10.0.0.0/8, so the login
		// itself is refused with 403; inside 127.0.0.0/8 it works, and so
		// does the token it gives.
		_, err = login("vpn", sign(t, is.key, is.claims(s)))
		wantError(t, err, http.StatusForbidden, "permission denied")
		bound, err := login("local", sign(t, is.key, is.claims(s)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.client(t, bound.Auth.ClientToken).Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("CIDR-bound token from inside its CIDR: %v", err)
		}

		// Bad tokens and claims: 400 with Vault's messages.
		stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		with := func(k string, v any) map[string]any {
			c := is.claims(s)
			c[k] = v
			return c
		}
		for _, bad := range []struct {
			name, role, jwt, msg string
		}{
			{"not a jwt", "ci", "not.a.jwt", "error validating token: "},
			{"unknown key", "ci", sign(t, stranger, is.claims(s)), "error validating token: error verifying token signature"},
			{"expired", "ci", sign(t, is.key, with("exp", s.Clock.Now().Add(-time.Hour).Unix())), "error validating token: invalid expiration time (exp) claim: token is expired"},
			{"audience", "ci", sign(t, is.key, with("aud", "someone-else")), "error validating token: invalid audience (aud) claim"},
			{"issuer", "ci", sign(t, is.key, with("iss", "https://evil.example")), "error validating token: invalid issuer (iss) claim"},
			{"bound claim", "ci", sign(t, is.key, with("ref", "feature")), "error validating claims: "},
			{"missing role", "nope", sign(t, is.key, is.claims(s)), `role "nope" could not be found`},
			{"missing jwt", "ci", "", "missing token"},
		} {
			_, err := login(bad.role, bad.jwt)
			t.Run(bad.name, func(t *testing.T) { wantError(t, err, http.StatusBadRequest, bad.msg) })
		}

		// The display name is built from the mount path, as Vault does:
		// "/" becomes "-".
		if err := s.Client.Sys().Remount("auth/jwt", "auth/ci/jwt"); err != nil {
			t.Fatal(err)
		}
		_, err = tc.Auth().Token().LookupSelf()
		wantError(t, err, http.StatusForbidden, "permission denied")
		sec, err = s.anon(t).Logical().Write("auth/ci/jwt/login", map[string]any{"role": "ci", "jwt": sign(t, is.key, is.claims(s))})
		if err != nil {
			t.Fatal(err)
		}
		if self, _ := s.client(t, sec.Auth.ClientToken).Auth().Token().LookupSelf(); self.Data["display_name"] != "ci-jwt-repo:acme/app" {
			t.Fatalf("display name after remount = %v", self.Data["display_name"])
		}
	})
}
