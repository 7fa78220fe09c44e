package creds_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/minio"
	"github.com/runcred/runcred/internal/secret"
)

// node is a runcred server started in-process, as the agent would reach it.
type node struct {
	d      *daemon.Daemon
	token  string
	client *http.Client // trusts the node's CA when it serves HTTPS
	caFile string       // that CA, or ""
}

func startNode(t *testing.T) *node { return startNodeWith(t, nil) }

func startNodeWith(t *testing.T, tweak func(*daemon.Config)) *node {
	t.Helper()
	srv := daemontest.Start(t, tweak)
	return &node{d: srv.D, token: srv.Token, client: srv.HTTPClient(t), caFile: srv.CAFile()}
}

// httpMinter mints over runcred's HTTP API, as the agent does.
type httpMinter struct {
	n   *node
	run creds.Run
}

func (m httpMinter) Mint(ctx context.Context, audience string) (secret.Value, error) {
	body, _ := json.Marshal(map[string]any{"organization": m.run.Organization, "project": m.run.Project, "workspace": m.run.Workspace,
		"run_id": m.run.ID, "phase": string(m.run.Phase), "audience": audience})
	req, _ := http.NewRequestWithContext(ctx, "POST", m.n.d.URL()+"/api/runcred/v1/identity/mint", bytes.NewReader(body))
	req.Header.Set("X-Vault-Token", m.n.token)
	resp, err := m.n.client.Do(req)
	if err != nil {
		return secret.Value{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return secret.Value{}, fmt.Errorf("mint: HTTP %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return secret.Value{}, err
	}
	return secret.FromString(out.Token), nil
}

func vaultClient(t *testing.T, addr, tok string, tls *vault.TLSConfig) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	if tls != nil {
		if err := cfg.ConfigureTLS(tls); err != nil {
			t.Fatal(err)
		}
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

func vaultStatus(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	if err != nil {
		return err.Error()
	}
	return "<nil>"
}

func put(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: awssdk.String(bucket), Key: awssdk.String("terraform.tfstate"), Body: bytes.NewReader([]byte("{}"))})
	return err
}

// iniValues reads key = value lines of an AWS shared file's [default].
func iniValues(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if lines[0] != "[default]" {
		t.Fatalf("%s does not start with [default]: %q", path, lines[0])
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, l)
		}
		out[k] = v
	}
	return out
}

// tlsFront serves the node over TLS with a certificate only its own CA
// vouches for, and returns the CA as TFC_VAULT_ENCODED_CACERT wants it.
func tlsFront(t *testing.T, n *node) (addr, encodedCA string) {
	t.Helper()
	u, _ := url.Parse(n.d.URL())
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.URL, base64.StdEncoding.EncodeToString(ca)
}

const stateRW = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::ws1-state","arn:aws:s3:::ws1-state/*"]}]}`

const roleARN = "arn:aws:iam::123456789012:role/ws1"

// setupBroker configures jwt auth for ws1's plan phase and an AWS engine
// whose credentials come from MinIO.
func setupBroker(t *testing.T, n *node, m *minio.Server) {
	t.Helper()
	password := rand.Text()
	m.AddUser(t, "runcred-broker", password, "state-rw")
	root := vaultClient(t, n.d.URL(), n.token, nil)
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
	must(root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	write("auth/jwt/config", map[string]any{"oidc_discovery_url": n.d.PublicURL(), "bound_issuer": n.d.PublicURL()})
	write("auth/jwt/role/ws1-plan", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"vault.workload.identity"}, "user_claim": "terraform_full_workspace",
		"bound_claims":   map[string]any{"sub": "organization:demo:project:Default Project:workspace:ws1:run_phase:plan"},
		"token_policies": []string{"aws-ws1"}, "token_ttl": "20m",
	})
	must(root.Sys().PutPolicy("aws-ws1", `path "aws/sts/ws1" { capabilities = ["update"] }
path "aws/creds/ws1" { capabilities = ["read"] }`))
	must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write("aws/config/root", map[string]any{"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"})
	write("aws/roles/ws1", map[string]any{"credential_type": "assumed_role", "role_arns": []string{roleARN}})
}
