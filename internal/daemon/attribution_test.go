package daemon_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

// TestRunAttribution: the AWS engine names a run in its STS session
// (runcred-<run>-<phase>, what CloudTrail records) only for a login with a
// token this server's own issuer minted for that run. The same engine,
// reached through a jwt mount that trusts another issuer whose token claims
// the victim's run, or with a token created with the run's metadata, never
// gets that far: both are refused, naming the key, and STS is not called.
// The STS is the fake because MinIO does not report session names.
func TestRunAttribution(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		n := nodeOf(start(t, nil))
		sts := stsfake.Start(t, stsfake.Options{})
		root := vaultClient(t, n, n.token)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		write := func(path string, data map[string]any) {
			t.Helper()
			_, err := root.Logical().Write(path, data)
			must(err)
		}
		must(root.Sys().PutPolicy("aws-ws1", `path "aws/creds/ws1" { capabilities = ["read"] }`))
		must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
		write("aws/config/root", map[string]any{"access_key": sts.AccessKey, "secret_key": sts.SecretKey, "sts_endpoint": sts.URL, "region": "us-east-1"})
		write("aws/roles/ws1", map[string]any{"credential_type": "assumed_role", "role_arns": []string{"arn:aws:iam::123456789012:role/ws1"}})
		role := map[string]any{"role_type": "jwt", "bound_audiences": []string{vaultAud}, "user_claim": "sub", "token_policies": []string{"aws-ws1"}}

		// The genuine path: runcred's own issuer, a run's token.
		must(root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
		write("auth/jwt/config", map[string]any{"oidc_discovery_url": n.d.PublicURL(), "bound_issuer": n.d.PublicURL()})
		write("auth/jwt/role/run", role)
		tok := n.mint(t, mintArgs{Workspace: "ws1", Phase: "apply", Audience: vaultAud})
		sec, err := vaultClient(t, n, "").Logical().Write("auth/jwt/login", map[string]any{"role": "run", "jwt": tok.Token})
		must(err)
		_, err = vaultClient(t, n, sec.Auth.ClientToken).Logical().Read("aws/creds/ws1")
		must(err)
		if last, _ := sts.Last(); last.RoleSessionName != "runcred-run-test1-apply" {
			t.Fatalf("session name %q, want runcred-run-test1-apply", last.RoleSessionName)
		}
		calls := len(sts.Calls())

		// Another issuer the operator trusts, whose token claims the run.
		idp := newForeignIdP(t)
		must(root.Sys().EnableAuthWithOptions("ext", &vault.EnableAuthOptions{Type: "jwt"}))
		write("auth/ext/config", map[string]any{"oidc_discovery_url": idp.url, "bound_issuer": idp.url})
		write("auth/ext/role/ci", role)
		claims := map[string]any{"iss": idp.url, "sub": "repo:acme/app", "aud": vaultAud,
			"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
			"terraform_run_id": "run-test1", "terraform_run_phase": "apply", "terraform_full_workspace": "organization:demo:project:Default Project:workspace:ws1"}
		_, err = vaultClient(t, n, "").Logical().Write("auth/ext/login", map[string]any{"role": "ci", "jwt": idp.sign(t, claims)})
		if vaultStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `claim "terraform_run_id" is reserved`) {
			t.Fatalf("another issuer's run claims: %v, want 400 naming terraform_run_id", err)
		}
		// Its tokens without run claims log in, and name no run.
		for _, k := range []string{"terraform_run_id", "terraform_run_phase", "terraform_full_workspace"} {
			delete(claims, k)
		}
		sec, err = vaultClient(t, n, "").Logical().Write("auth/ext/login", map[string]any{"role": "ci", "jwt": idp.sign(t, claims)})
		must(err)
		_, err = vaultClient(t, n, sec.Auth.ClientToken).Logical().Read("aws/creds/ws1")
		must(err)
		if last, _ := sts.Last(); !strings.HasPrefix(last.RoleSessionName, "vault-") {
			t.Fatalf("session name %q for a login that names no run", last.RoleSessionName)
		}

		// A token created with the run's metadata.
		_, err = root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"aws-ws1"},
			Metadata: map[string]string{"terraform_run_id": "run-test1", "terraform_run_phase": "apply"}})
		if vaultStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `"terraform_run_id" is reserved`) {
			t.Fatalf("token create with run metadata: %v, want 400", err)
		}
		if got := len(sts.Calls()); got != calls+1 {
			t.Fatalf("STS called %d times after the genuine run, want 1 (the login that names no run)", got-calls)
		}
	})
}

// foreignIdP is an OIDC issuer that is not runcred: discovery and a JWKS.
type foreignIdP struct {
	url string
	key *ecdsa.PrivateKey
}

func newForeignIdP(t *testing.T) *foreignIdP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &foreignIdP{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.url, "jwks_uri": p.url + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *foreignIdP) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(claims)
	obj, err := s.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
