package creds

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// A small Vault client rather than github.com/hashicorp/vault/api: its
// NewClient reads VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_HEADERS and
// more from the agent's own environment, and this package must read nothing
// but the workspace's variables. Five calls are needed; the tests drive the
// same server with the official client.

// maxVaultResponse bounds what is read from Vault.
const maxVaultResponse = 1 << 20

// vaultToken is one configuration's logged-in token and how to reach its
// Vault.
type vaultToken struct {
	conf      credspec.Vault
	client    *http.Client
	token     secret.Value
	renewable bool
	ttl       time.Duration // the lease length renew-self asks for again
	due       time.Time     // when to renew next
	expires   time.Time
}

// vaultResponse is the part of Vault's response envelope used here.
type vaultResponse struct {
	LeaseID       string         `json:"lease_id"`
	LeaseDuration int64          `json:"lease_duration"`
	Renewable     bool           `json:"renewable"`
	Data          map[string]any `json:"data"`
	Auth          *struct {
		ClientToken   string `json:"client_token"`
		LeaseDuration int64  `json:"lease_duration"`
		Renewable     bool   `json:"renewable"`
	} `json:"auth"`
	Errors []string `json:"errors"`
}

// vaultHTTPClient is cfg's client, with the configuration's CA as the only
// trusted root when one is set, and redirects refused: Go would follow one
// to another host with X-Vault-Token still attached.
func vaultHTTPClient(base *http.Client, c credspec.Vault) (*http.Client, error) {
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.CAPEM == nil {
		return &hc, nil
	}
	var tr *http.Transport
	switch t := base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("%s: the agent's HTTP transport (%T) cannot take a CA certificate", flagName("VAULT", "ENCODED_CACERT", c.Tag), t)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM) // checked by decodeCACert
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = newTLSConfig()
	}
	tr.TLSClientConfig.RootCAs = pool
	hc.Transport = tr
	return &hc, nil
}

// call sends one request to the configuration's Vault. A non-2xx answer is
// an error carrying Vault's messages (which never hold the token).
func (t *vaultToken) call(ctx context.Context, method, path string, body any) (*vaultResponse, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.conf.Addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Request", "true")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !t.token.Empty() {
		req.Header.Set("X-Vault-Token", t.token.RevealString())
	}
	if t.conf.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", t.conf.Namespace)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxVaultResponse))
	if err != nil {
		return nil, fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	var out vaultResponse
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil && resp.StatusCode/100 == 2 {
			return nil, fmt.Errorf("vault %s %s: unreadable answer: %w", method, path, err)
		}
	}
	if resp.StatusCode/100 != 2 {
		return nil, &vaultError{Method: method, Path: path, Status: resp.StatusCode, Errors: out.Errors}
	}
	return &out, nil
}

// vaultError is a refusal from Vault.
type vaultError struct {
	Method, Path string
	Status       int
	Errors       []string
}

func (e *vaultError) Error() string {
	return fmt.Sprintf("vault %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.Join(e.Errors, "; "))
}

// vaultLogin logs in (§2.3) with a fresh workload-identity token, or with
// an AppRole's role and secret ID (TFC_VAULT_AUTH_TYPE=approle), and exposes
// the Vault token: VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and VAULT_CACERT
// for the default configuration; a token file (and CA file) for every one,
// named in tfc_vault_dynamic_credentials.
func (b *builder) vaultLogin(ctx context.Context, c credspec.Vault) error {
	by := flagName("VAULT", "PROVIDER_AUTH", c.Tag)
	hc, err := vaultHTTPClient(b.cfg.HTTPClient, c)
	if err != nil {
		return err
	}
	var body map[string]string
	if c.AuthType == credspec.AppRole {
		roleID, secretID, err := b.appRoleIDs(c, by)
		if err != nil {
			return err
		}
		body = map[string]string{"role_id": roleID.RevealString(), "secret_id": secretID.RevealString()}
	} else {
		jwt, _, err := b.mint(ctx, c.Audience, by)
		if err != nil {
			return err
		}
		body = map[string]string{"role": c.Role, "jwt": jwt.RevealString()}
	}
	t := &vaultToken{conf: c, client: hc}
	resp, err := t.call(ctx, http.MethodPost, "auth/"+escapePath(c.AuthPath)+"/login", body)
	if err != nil {
		return fmt.Errorf("%s: logging in to Vault: %w", by, err)
	}
	if resp.Auth == nil || resp.Auth.ClientToken == "" {
		return fmt.Errorf("%s: logging in to Vault: the answer holds no token", by)
	}
	t.token = secret.FromString(resp.Auth.ClientToken)
	b.addSecret(t.token)
	// Recorded before anything else can fail, so Close revokes it.
	b.res.tokens = append(b.res.tokens, t)
	b.vault[c.Tag] = t
	t.setLease(b.cfg.Now(), resp.Auth.LeaseDuration, resp.Auth.Renewable)

	tokenFile, err := b.writeFile(fileName("tfc-vault-token", c.Tag), t.token.Reveal())
	if err != nil {
		return err
	}
	caFile := ""
	if c.CAPEM != nil {
		if caFile, err = b.writeFile(fileName("tfc-vault-ca-cert", c.Tag), c.CAPEM); err != nil {
			return err
		}
	}
	b.expose("vault", c.Tag, map[string]string{"token_filename": tokenFile, "address": c.Addr, "namespace": c.Namespace, "ca_cert_file": caFile},
		"token_filename", "address", "namespace", "ca_cert_file")
	if c.Tag != "" {
		return nil
	}
	env := [][2]string{{"VAULT_ADDR", c.Addr}, {"VAULT_TOKEN", t.token.RevealString()}}
	if c.Namespace != "" {
		env = append(env, [2]string{"VAULT_NAMESPACE", c.Namespace})
	}
	if caFile != "" {
		env = append(env, [2]string{"VAULT_CACERT", caFile})
	}
	for _, kv := range env {
		if err := b.setEnv(kv[0], kv[1], by); err != nil {
			return err
		}
	}
	return nil
}

// appRoleIDs reads an AppRole login's role and secret ID from the variables
// the configuration names, and withholds the secret ID's variable from the
// run: it is the agent's to log in with, and a run that saw it could log in
// again, after the phase, outside it. Each refusal comes before anything is
// sent to Vault. The secret ID must be in a sensitive variable: then no API
// answer, log or policy input ever shows it, and the redactor knows it.
func (b *builder) appRoleIDs(c credspec.Vault, by string) (roleID, secretID secret.Value, err error) {
	find := func(key, from string) (jobapi.Variable, error) {
		var found []jobapi.Variable
		for _, v := range b.cfg.Variables {
			if v.Key == key {
				found = append(found, v)
			}
		}
		switch {
		case len(found) == 0:
			return jobapi.Variable{}, fmt.Errorf("%s: %s names the variable %q, which the workspace does not have", by, from, key)
		case len(found) > 1:
			return jobapi.Variable{}, fmt.Errorf("%s: the workspace has %q both as a Terraform and as an environment variable; keep one", by, key)
		case found[0].HCL:
			return jobapi.Variable{}, fmt.Errorf("%s: the variable %q is HCL; an AppRole ID is a plain string", by, key)
		case found[0].Value == "":
			return jobapi.Variable{}, fmt.Errorf("%s: the variable %q (named by %s) is empty", by, key, from)
		}
		return found[0], nil
	}
	rv, err := find(c.RoleIDVar, c.RoleIDVarFrom)
	if err != nil {
		return secret.Value{}, secret.Value{}, err
	}
	sv, err := find(c.SecretIDVar, c.SecretIDVarFrom)
	if err != nil {
		return secret.Value{}, secret.Value{}, err
	}
	if !sv.Sensitive {
		return secret.Value{}, secret.Value{}, fmt.Errorf("%s: the variable %q holds the AppRole secret ID but is not sensitive; "+
			"mark it sensitive (nothing was sent to Vault)", by, c.SecretIDVar)
	}
	roleID, secretID = secret.FromString(rv.Value), secret.FromString(sv.Value)
	b.addSecret(roleID)
	b.addSecret(secretID)
	if !slices.Contains(b.res.Withheld, c.SecretIDVar) {
		b.res.Withheld = append(b.res.Withheld, c.SecretIDVar)
	}
	return roleID, secretID, nil
}

// setLease records a token's lease; a token without a TTL is never renewed.
func (t *vaultToken) setLease(now time.Time, seconds int64, renewable bool) {
	t.ttl = time.Duration(seconds) * time.Second
	t.renewable = renewable && t.ttl > 0
	t.expires = now.Add(t.ttl)
	t.due = now.Add(t.ttl / 2)
}

// renew extends the token by its original TTL (Vault caps it at the max).
func (t *vaultToken) renew(ctx context.Context, now time.Time) error {
	resp, err := t.call(ctx, http.MethodPut, "auth/token/renew-self", map[string]any{"increment": int64(t.ttl / time.Second)})
	if err != nil {
		return err
	}
	if resp.Auth == nil {
		return errors.New("vault renew-self: the answer holds no auth")
	}
	ttl := t.ttl
	t.setLease(now, resp.Auth.LeaseDuration, resp.Auth.Renewable)
	if t.ttl > 0 {
		t.ttl = ttl // keep asking for the original length
	}
	return nil
}

// revoke revokes the token and, through it, every lease it obtained. A
// token Vault no longer knows (403) is already as revoked as it gets.
func (t *vaultToken) revoke(ctx context.Context) error {
	_, err := t.call(ctx, http.MethodPut, "auth/token/revoke-self", nil)
	var ve *vaultError
	if errors.As(err, &ve) && ve.Status == http.StatusForbidden {
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoking the Vault token of %s: %w", flagName("VAULT", "PROVIDER_AUTH", t.conf.Tag), err)
	}
	return nil
}

// escapePath escapes each segment of a Vault path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func newTLSConfig() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }
