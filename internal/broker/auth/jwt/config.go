package jwt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

const configKey = "config"

// asymmetricAlgs is Vault's default for jwt roles and also the whole set
// this method will ever accept: no HS* (a public key must never double as an
// HMAC secret) and no "none".
var asymmetricAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
}

// config is the method's configuration, stored under configKey. Exactly one
// key source is set: OIDCDiscoveryURL, JWKSURL or JWTValidationPubKeys.
type config struct {
	OIDCDiscoveryURL     string   `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM   string   `json:"oidc_discovery_ca_pem"`
	OIDCClientID         string   `json:"oidc_client_id"`
	JWKSURL              string   `json:"jwks_url"`
	JWKSCAPEM            string   `json:"jwks_ca_pem"`
	JWTValidationPubKeys []string `json:"jwt_validation_pubkeys"`
	JWTSupportedAlgs     []string `json:"jwt_supported_algs"`
	BoundIssuer          string   `json:"bound_issuer"`
	DefaultRole          string   `json:"default_role"`

	// The browser flow's settings: this method serves no OIDC redirect, but
	// it keeps and returns them as Vault does, so a configuration written by
	// terraform-provider-vault reads back as written.
	OIDCResponseMode  string   `json:"oidc_response_mode"`
	OIDCResponseTypes []string `json:"oidc_response_types"`
	// NamespaceInState is a pointer so a config stored before the field
	// existed reads as Vault's default, true.
	NamespaceInState *bool `json:"namespace_in_state,omitempty"`

	// clientSecret is kept for the OIDC flow Vault has and this method does
	// not serve; it is stored (sealed by the core) and never read back.
	clientSecret secret.Value
}

// storedConfig is config as it is written to storage, secret included.
type storedConfig struct {
	config
	OIDCClientSecret string `json:"oidc_client_secret,omitempty"`
}

var configFields = []string{
	"oidc_discovery_url", "oidc_discovery_ca_pem", "oidc_client_id", "oidc_client_secret",
	"jwks_url", "jwks_ca_pem", "jwt_validation_pubkeys", "jwt_supported_algs",
	"bound_issuer", "default_role", "oidc_response_mode", "oidc_response_types",
	"namespace_in_state", "jwks_pairs", "provider_config",
}

// namespaceInState is the stored flag, true when it was never written.
func (c *config) namespaceInState() bool {
	return c.NamespaceInState == nil || *c.NamespaceInState
}

func loadConfig(ctx context.Context, st engine.Storage) (*config, error) {
	raw, err := st.Get(ctx, configKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var sc storedConfig
	if err := json.Unmarshal(raw, &sc); err != nil {
		return nil, fmt.Errorf("decoding jwt config: %w", err)
	}
	c := sc.config
	c.clientSecret = secret.FromString(sc.OIDCClientSecret)
	return &c, nil
}

// algorithms is what a token's "alg" header may be: the configured list, or
// every asymmetric algorithm. A write never stores anything outside
// asymmetricAlgs, and this filters again in case storage holds an older or
// hand-made config.
func (c *config) algorithms() []jose.SignatureAlgorithm {
	if len(c.JWTSupportedAlgs) == 0 {
		return asymmetricAlgs
	}
	var out []jose.SignatureAlgorithm
	for _, a := range c.JWTSupportedAlgs {
		if slices.Contains(asymmetricAlgs, jose.SignatureAlgorithm(a)) {
			out = append(out, jose.SignatureAlgorithm(a))
		}
	}
	return out
}

// source names the remote key set a config uses; ok is false for static keys.
func (c *config) source() (src keySource, ok bool) {
	switch {
	case c.OIDCDiscoveryURL != "":
		return keySource{discoveryURL: c.OIDCDiscoveryURL, caPEM: c.OIDCDiscoveryCAPEM}, true
	case c.JWKSURL != "":
		return keySource{jwksURL: c.JWKSURL, caPEM: c.JWKSCAPEM}, true
	}
	return keySource{}, false
}

func (b *Backend) readConfig(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	c, err := loadConfig(ctx, req.Storage)
	if err != nil || c == nil {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{
		"oidc_discovery_url":     c.OIDCDiscoveryURL,
		"oidc_discovery_ca_pem":  c.OIDCDiscoveryCAPEM,
		"oidc_client_id":         c.OIDCClientID,
		"jwks_url":               c.JWKSURL,
		"jwks_ca_pem":            c.JWKSCAPEM,
		"jwt_validation_pubkeys": nonNil(c.JWTValidationPubKeys),
		"jwt_supported_algs":     nonNil(c.JWTSupportedAlgs),
		"bound_issuer":           c.BoundIssuer,
		"default_role":           c.DefaultRole,
		"oidc_response_mode":     c.OIDCResponseMode,
		"oidc_response_types":    nonNil(c.OIDCResponseTypes),
		"namespace_in_state":     c.namespaceInState(),
		// Neither is supported (writeConfig refuses a non-empty value), and
		// Vault returns both.
		"jwks_pairs":      []any{},
		"provider_config": map[string]any{},
	}}, nil
}

// writeConfig replaces the configuration, as Vault does: fields not given
// are cleared. A remote key source is fetched before anything is stored, so
// a typo in a URL is an error now rather than failed logins later.
func (b *Backend) writeConfig(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	var c config
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"oidc_discovery_url", &c.OIDCDiscoveryURL},
		{"oidc_discovery_ca_pem", &c.OIDCDiscoveryCAPEM},
		{"oidc_client_id", &c.OIDCClientID},
		{"jwks_url", &c.JWKSURL},
		{"jwks_ca_pem", &c.JWKSCAPEM},
		{"bound_issuer", &c.BoundIssuer},
		{"default_role", &c.DefaultRole},
		{"oidc_response_mode", &c.OIDCResponseMode},
	} {
		v, _, err := f.String(s.name)
		if err != nil {
			return nil, err
		}
		*s.dst = v
	}
	clientSecret, _, err := f.String("oidc_client_secret")
	if err != nil {
		return nil, err
	}
	c.clientSecret = secret.FromString(clientSecret)
	if c.JWTValidationPubKeys, _, err = f.Strings("jwt_validation_pubkeys"); err != nil {
		return nil, err
	}
	if c.JWTSupportedAlgs, _, err = f.Strings("jwt_supported_algs"); err != nil {
		return nil, err
	}
	if c.OIDCResponseTypes, _, err = f.Strings("oidc_response_types"); err != nil {
		return nil, err
	}
	nsInState, given, err := f.Bool("namespace_in_state")
	if err != nil {
		return nil, err
	}
	if !given {
		nsInState = true // Vault's default for a new config
	}
	c.NamespaceInState = &nsInState
	if c.DefaultRole != "" {
		if c.DefaultRole, err = roleName(c.DefaultRole); err != nil {
			return nil, err
		}
	}
	if err := checkUnsupported(f); err != nil {
		return nil, err
	}
	if err := c.checkResponse(); err != nil {
		return nil, err
	}

	sources := 0
	for _, set := range []bool{c.OIDCDiscoveryURL != "", c.JWKSURL != "", len(c.JWTValidationPubKeys) > 0} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return nil, fail.Invalidf("exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set")
	case (c.OIDCClientID == "") != c.clientSecret.Empty():
		return nil, fail.Invalidf("both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC")
	case c.OIDCClientID != "" && c.OIDCDiscoveryURL == "":
		return nil, fail.Invalidf("'oidc_discovery_url' must be set for OIDC")
	}
	for _, a := range c.JWTSupportedAlgs {
		// Checked before any fetch: a config that would admit HS256 or
		// none is refused whatever its key source.
		if !slices.Contains(asymmetricAlgs, jose.SignatureAlgorithm(a)) {
			return nil, fail.Invalidf("invalid jwt_supported_algs: unsupported signing algorithm %q", a)
		}
	}
	for _, k := range c.JWTValidationPubKeys {
		if _, err := parsePublicKeyPEM(k); err != nil {
			return nil, fail.Invalidf("error parsing public key: %v", err)
		}
	}

	var fetched *remoteKeys
	if src, remote := c.source(); remote {
		if fetched, err = b.checkSource(ctx, src); err != nil {
			return nil, err
		}
	}

	raw, err := json.Marshal(storedConfig{config: c, OIDCClientSecret: clientSecret})
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, configKey, raw); err != nil {
		return nil, err
	}
	// Start from the keys just fetched rather than fetching them again at
	// the first login. Other nodes build their own cache on first use.
	b.mu.Lock()
	b.remote = fetched
	b.mu.Unlock()
	return warnUnknown(f, configFields), nil
}

// checkUnsupported refuses, rather than stores and ignores, the settings
// this method has no code for: several JWKS sources, and the
// provider-specific group fetching of the OIDC flow. Empty values, which
// terraform-provider-vault may send for an unset attribute, are fine.
func checkUnsupported(f engine.Fields) error {
	if v, ok := f["jwks_pairs"]; ok && v != nil {
		if list, isList := v.([]any); !isList || len(list) != 0 {
			return fail.Invalidf("jwks_pairs is not supported: use jwks_url and jwks_ca_pem")
		}
	}
	pc, _, err := f.Map("provider_config")
	if err != nil {
		return err
	}
	if len(pc) != 0 {
		return fail.Invalidf("provider_config is not supported: this method serves no OIDC provider-specific handling")
	}
	return nil
}

// checkResponse holds the OIDC response settings to Vault's rules: types
// "code" and "id_token", mode "query" or "form_post", and an id_token only
// by form post.
func (c *config) checkResponse() error {
	idToken := false
	for _, t := range c.OIDCResponseTypes {
		switch t {
		case "code":
		case "id_token":
			idToken = true
		default:
			return fail.Invalidf("invalid oidc_response_types %q: 'code' and 'id_token' are allowed", fail.Clip(t))
		}
	}
	switch c.OIDCResponseMode {
	case "", "query":
		if idToken {
			return fail.Invalidf("query oidc_response_mode may not be used with an id_token oidc_response_types")
		}
	case "form_post":
	default:
		return fail.Invalidf("invalid oidc_response_mode %q: 'query' and 'form_post' are allowed", fail.Clip(c.OIDCResponseMode))
	}
	return nil
}

// checkSource fetches a remote key source once and returns it primed.
func (b *Backend) checkSource(ctx context.Context, src keySource) (*remoteKeys, error) {
	what := "error checking jwks URL"
	raw := src.jwksURL
	if src.discoveryURL != "" {
		what = "error checking oidc discovery URL"
		raw = src.discoveryURL
		// Vault wants the issuer, not the document's own address.
		if strings.Contains(raw, "/.well-known/") {
			return nil, fail.Invalidf("%s: the URL must be the issuer, without /.well-known/", what)
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fail.Invalidf("%s: not an http or https URL", what)
	}
	rk, err := newRemoteKeys(src, b.client, b.now)
	if err != nil {
		if src.discoveryURL == "" {
			return nil, fail.Invalidf("error checking jwks_ca_pem: %v", err)
		}
		return nil, fail.Invalidf("%s: %v", what, err)
	}
	if err := rk.refresh(ctx, 0); err != nil {
		return nil, fail.Invalidf("%s: %v", what, err)
	}
	return rk, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// warnUnknown returns a response warning about fields the path does not
// know, as Vault does, or nil when there are none.
func warnUnknown(f engine.Fields, known []string) *engine.Response {
	unknown := f.Unknown(known...)
	if len(unknown) == 0 {
		return nil
	}
	return &engine.Response{Warnings: []string{
		fmt.Sprintf("Endpoint ignored these unrecognized parameters: %v", unknown),
	}}
}
