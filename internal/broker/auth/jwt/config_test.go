package jwt

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestConfigRejects(t *testing.T) {
	e := bareEnv(t)
	url := e.idp.srv.URL
	pub := pemPublic(t, rsaKey.Public())
	tests := []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"no key source", map[string]any{"bound_issuer": "x"}, "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set"},
		{"two key sources", map[string]any{"oidc_discovery_url": url, "jwt_validation_pubkeys": pub}, "exactly one of"},
		{"HS256 in jwt_supported_algs", map[string]any{"jwt_validation_pubkeys": pub, "jwt_supported_algs": []any{"RS256", "HS256"}}, `invalid jwt_supported_algs: unsupported signing algorithm "HS256"`},
		{"none in jwt_supported_algs", map[string]any{"oidc_discovery_url": url, "jwt_supported_algs": "none"}, `unsupported signing algorithm "none"`},
		{"bad PEM", map[string]any{"jwt_validation_pubkeys": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, "error parsing public key"},
		{"not PEM", map[string]any{"jwt_validation_pubkeys": "hello"}, "error parsing public key: no PEM block found"},
		{"client id without secret", map[string]any{"oidc_discovery_url": url, "oidc_client_id": "app"}, "both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC"},
		{"client id without discovery", map[string]any{"jwks_url": url, "oidc_client_id": "app", "oidc_client_secret": "s"}, "'oidc_discovery_url' must be set for OIDC"},
		{"discovery URL with .well-known", map[string]any{"oidc_discovery_url": url + "/.well-known/openid-configuration"}, "error checking oidc discovery URL: "},
		{"discovery URL not http", map[string]any{"oidc_discovery_url": "ftp://example.com"}, "error checking oidc discovery URL: not an http or https URL"},
		{"discovery fetch fails", map[string]any{"oidc_discovery_url": url + "/nowhere"}, "error checking oidc discovery URL: " + url + "/nowhere/.well-known/openid-configuration: 404 Not Found"},
		{"discovery issuer differs by a slash", map[string]any{"oidc_discovery_url": url + "/"}, `error checking oidc discovery URL: issuer did not match the returned issuer, expected "` + url + `/"`},
		{"jwks fetch fails", map[string]any{"jwks_url": url + "/missing"}, "error checking jwks URL: " + url + "/missing: 404 Not Found"},
		{"jwks CA not PEM", map[string]any{"jwks_url": url + "/.well-known/jwks", "jwks_ca_pem": "nope"}, "error checking jwks_ca_pem: could not parse CA PEM value successfully"},
		{"bad default role", map[string]any{"jwt_validation_pubkeys": pub, "default_role": "a/b"}, `invalid role name "a/b"`},
		{"bad response mode", map[string]any{"jwt_validation_pubkeys": pub, "oidc_response_mode": "fragment"}, `invalid oidc_response_mode "fragment"`},
		{"bad response type", map[string]any{"jwt_validation_pubkeys": pub, "oidc_response_types": "token"}, `invalid oidc_response_types "token"`},
		{"id_token by query", map[string]any{"jwt_validation_pubkeys": pub, "oidc_response_types": "code,id_token"}, "query oidc_response_mode may not be used with an id_token"},
		{"namespace_in_state not a bool", map[string]any{"jwt_validation_pubkeys": pub, "namespace_in_state": "maybe"}, "namespace_in_state"},
		{"jwks_pairs", map[string]any{"jwt_validation_pubkeys": pub, "jwks_pairs": []any{map[string]any{"jwks_url": url}}}, "jwks_pairs is not supported"},
		{"jwks_pairs not a list", map[string]any{"jwt_validation_pubkeys": pub, "jwks_pairs": "x"}, "jwks_pairs is not supported"},
		{"provider_config", map[string]any{"jwt_validation_pubkeys": pub, "provider_config": map[string]any{"provider": "azure"}}, "provider_config is not supported"},
		{"provider_config not a map", map[string]any{"jwt_validation_pubkeys": pub, "provider_config": "azure"}, "provider_config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.call(engine.Update, "config", tt.data)
			wantErr(t, err, fail.Invalid, tt.msg)
			if keys := e.st.Keys(); len(keys) != 0 {
				t.Fatalf("a refused config was stored: %v", keys)
			}
		})
	}
}

func TestConfigIssuerMismatch(t *testing.T) {
	e := bareEnv(t)
	e.idp.issuer = "https://accounts.example.com"
	_, err := e.call(engine.Update, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL})
	wantErr(t, err, fail.Invalid, `issuer did not match the returned issuer, expected "`+e.idp.srv.URL+`" got "https://accounts.example.com"`)
}

func TestConfigIdPDown(t *testing.T) {
	e := bareEnv(t)
	e.idp.setStatus(http.StatusServiceUnavailable)
	_, err := e.call(engine.Update, "config", map[string]any{"oidc_discovery_url": e.idp.srv.URL})
	wantErr(t, err, fail.Invalid, "error checking oidc discovery URL: ")
}

// TestConfigCA trusts the IdP only through the configured CA bundle.
func TestConfigCA(t *testing.T) {
	e := bareEnv(t)
	tlsIDP := newTLSIDP(t)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsIDP.srv.Certificate().Raw}))
	e.b.client = &http.Client{} // system roots only: the test CA is unknown

	_, err := e.call(engine.Update, "config", map[string]any{"oidc_discovery_url": tlsIDP.srv.URL})
	wantErr(t, err, fail.Invalid, "error checking oidc discovery URL: ")

	e.write(t, "config", map[string]any{"oidc_discovery_url": tlsIDP.srv.URL, "oidc_discovery_ca_pem": caPEM})
	e.write(t, "config", map[string]any{"jwks_url": tlsIDP.srv.URL + "/.well-known/jwks", "jwks_ca_pem": caPEM})
}

func TestConfigReadHidesSecret(t *testing.T) {
	e := bareEnv(t)
	resp := e.write(t, "config", map[string]any{
		"oidc_discovery_url": e.idp.srv.URL, "oidc_client_id": "app", "oidc_client_secret": "s3cr3t-value",
		"bound_issuer": e.idp.srv.URL, "default_role": "CI", "jwt_supported_algs": "RS256,ES256", "surprise": 1,
	})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "surprise") {
		t.Fatalf("write response = %+v; want a warning about the unknown field", resp)
	}
	got, err := e.call(engine.Read, "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"oidc_discovery_url": e.idp.srv.URL, "oidc_discovery_ca_pem": "", "oidc_client_id": "app",
		"jwks_url": "", "jwks_ca_pem": "", "jwt_validation_pubkeys": []string{},
		"jwt_supported_algs": []string{"RS256", "ES256"}, "bound_issuer": e.idp.srv.URL, "default_role": "ci",
		"oidc_response_mode": "", "oidc_response_types": []string{}, "namespace_in_state": true,
		"jwks_pairs": []any{}, "provider_config": map[string]any{},
	}
	if !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("read = %v\nwant   %v", got.Data, want)
	}
	raw, _ := e.st.Get(context.Background(), "config")
	if !strings.Contains(string(raw), "s3cr3t-value") {
		t.Fatalf("stored config lost the client secret: %s", raw)
	}
	c, err := loadConfig(context.Background(), e.st)
	if err != nil || c.clientSecret.RevealString() != "s3cr3t-value" {
		t.Fatalf("loaded secret: %v", err)
	}
}

// TestConfigOIDCSettings: what terraform-provider-vault writes for a JWT
// backend reads back as written, namespace_in_state included (a config
// that dropped it showed a diff on every plan).
func TestConfigOIDCSettings(t *testing.T) {
	e := bareEnv(t)
	pub := pemPublic(t, rsaKey.Public())
	e.write(t, "config", map[string]any{
		"jwt_validation_pubkeys": []any{pub}, "namespace_in_state": false,
		"oidc_response_mode": "form_post", "oidc_response_types": []any{"code", "id_token"},
		"jwks_pairs": []any{}, "provider_config": map[string]any{},
	})
	got, err := e.call(engine.Read, "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"namespace_in_state": false, "oidc_response_mode": "form_post",
		"oidc_response_types": []string{"code", "id_token"},
	} {
		if !reflect.DeepEqual(got.Data[k], want) {
			t.Errorf("%s = %#v, want %#v", k, got.Data[k], want)
		}
	}
	// A write that leaves it out is a new config: Vault's default, true.
	e.write(t, "config", map[string]any{"jwt_validation_pubkeys": []any{pub}})
	if got, err = e.call(engine.Read, "config", nil); err != nil || got.Data["namespace_in_state"] != true {
		t.Fatalf("namespace_in_state after a write without it = %v, %v; want true", got.Data["namespace_in_state"], err)
	}
	// A config stored before the field existed reads as the default too.
	if err := e.st.Put(context.Background(), "config", []byte(`{"jwt_validation_pubkeys":[`+strconv.Quote(pub)+`]}`)); err != nil {
		t.Fatal(err)
	}
	if got, err = e.call(engine.Read, "config", nil); err != nil || got.Data["namespace_in_state"] != true {
		t.Fatalf("namespace_in_state of an older config = %v, %v; want true", got.Data["namespace_in_state"], err)
	}
}

func TestConfigReadMissing(t *testing.T) {
	e := bareEnv(t)
	resp, err := e.call(engine.Read, "config", nil)
	if resp != nil || err != nil {
		t.Fatalf("read of no config = %+v, %v; want nil, nil", resp, err)
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}))
	tlsIDP := newTLSIDP(t)
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsIDP.srv.Certificate().Raw}))
	for name, in := range map[string]string{
		"pkix rsa": pemPublic(t, rsaKey.Public()), "pkix ec": pemPublic(t, ecKey.Public()),
		"pkix ed25519": pemPublic(t, edPriv.Public()), "pkcs1": pkcs1, "certificate": cert,
	} {
		if _, err := parsePublicKeyPEM(in); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	priv := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	if _, err := parsePublicKeyPEM(priv); err == nil {
		t.Error("a private key was accepted as a public key")
	}
}
