package agent_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/peers/minio"
)

// recorder is an HTTP transport that keeps every credential the agent
// receives (tokens, keys), so a test can look for them where they must not
// be.
type recorder struct {
	mu      sync.Mutex
	secrets map[string]bool
}

var secretFields = map[string]bool{"token": true, "client_token": true, "access_key": true, "secret_key": true, "security_token": true}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var v any
	if json.Unmarshal(b, &v) == nil {
		r.mu.Lock()
		r.collect(v)
		r.mu.Unlock()
	}
	return resp, nil
}

func (r *recorder) collect(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && secretFields[k] && len(s) >= 16 {
				r.secrets[s] = true
			}
			r.collect(x)
		}
	case []any:
		for _, x := range t {
			r.collect(x)
		}
	}
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.secrets {
		out = append(out, s)
	}
	return out
}

// TestVaultBackedAWSThroughBroker: the same s3-backed configuration with
// AWS credentials read from runcred's own broker (aws/creds/<role>) after a
// JWT login with the phase's token. After each phase the Vault token and
// its lease are revoked. Every secret the agent was handed is then looked
// for in the state, the plans, the logs, the server's log and the database
// file's bytes.
func TestVaultBackedAWSThroughBroker(t *testing.T) {
	rec := &recorder{secrets: map[string]bool{}}
	w := newWorld(t, nil, func(c *agent.Config) {
		c.HTTPClient = &http.Client{Transport: rec}
		c.VaultClient = &http.Client{Transport: rec}
	})
	ctx := ctxT(t)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket","s3:DeleteObject"],"Resource":["arn:aws:s3:::tfstate","arn:aws:s3:::tfstate/*"]}]}`},
		Buckets: []string{"tfstate"}})
	password := rand.Text()
	m.AddUser(t, "runcred-broker", password, "state-rw")

	root := rootVault(t, w)
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
	const roleARN = "arn:aws:iam::123456789012:role/vault-ws"
	must(root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	write("auth/jwt/config", map[string]any{"oidc_discovery_url": w.srv.D.PublicURL(), "bound_issuer": w.srv.D.PublicURL()})
	write("auth/jwt/role/vault-ws", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"vault.workload.identity"}, "user_claim": "terraform_full_workspace",
		"bound_claims_type": "glob",
		"bound_claims":      map[string]any{"sub": "organization:demo:project:Default Project:workspace:vault:run_phase:*"},
		"token_policies":    []string{"aws-vault"}, "token_ttl": "20m",
	})
	must(root.Sys().PutPolicy("aws-vault", `path "aws/creds/vault-ws" { capabilities = ["read", "update"] }
path "aws/sts/vault-ws" { capabilities = ["read", "update"] }`))
	must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write("aws/config/root", map[string]any{"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"})
	write("aws/roles/vault-ws", map[string]any{"credential_type": "assumed_role", "role_arns": []string{roleARN}})

	// The agent's own Vault and AWS settings must play no part in a run.
	t.Setenv("VAULT_TOKEN", w.srv.Token)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", m.RootUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.RootPassword)

	ws := w.workspace(t, "vault", false, map[string]string{
		"env:TFC_VAULT_PROVIDER_AUTH": "true", "env:TFC_VAULT_BACKED_AWS_AUTH": "true", "env:TFC_VAULT_ADDR": w.srv.D.URL(), "env:TFC_VAULT_RUN_ROLE": "vault-ws",
		"env:TFC_VAULT_BACKED_AWS_AUTH_TYPE": "assumed_role", "env:TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "vault-ws",
		"env:TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN": roleARN,
		"secret!":                               canary, "env:CANARY_ENV!": canary + "-env",
	})
	w.upload(t, ws, map[string]string{"main.tf": s3Backend(m.URL, "vault/terraform.tfstate") + `
variable "secret" { sensitive = true }
resource "terraform_data" "x" {
  input = nonsensitive(length(var.secret))
  provisioner "local-exec" { command = "echo secret=${nonsensitive(var.secret)} env=$CANARY_ENV" }
}
`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	if err := w.tfe.Runs.Apply(ctx, run.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunApplied)
	logs := w.logs(t, run)
	if !strings.Contains(logs, "Apply complete! Resources: 1 added") || !strings.Contains(logs, "(local-exec): secret=*** env=***") {
		t.Fatalf("log:\n%s", logs)
	}
	if !objectExists(ctx, t, m, "vault/terraform.tfstate") {
		t.Fatal("no state object in MinIO")
	}

	// Both phases logged in and read credentials; the lease of each read is
	// revoked, by the phase's end rather than by its expiry.
	recs, err := w.srv.D.Audit.Tail(ctx, 1000)
	must(err)
	var logins int
	var leases []string              // of the credential reads
	revokedBy := map[string]string{} // lease id -> reason, of revocations naming the run
	for _, r := range recs {
		body := string(r.Body)
		var rec struct {
			Response struct {
				Secret struct {
					LeaseID string `json:"lease_id"`
				} `json:"secret"`
			} `json:"response"`
			Reason string `json:"reason"`
		}
		must(json.Unmarshal(r.Body, &rec))
		switch {
		case r.Type == "broker.response" && strings.Contains(body, `"auth/jwt/login"`):
			logins++
		case r.Type == "broker.response" && (strings.Contains(body, `"aws/sts/vault-ws"`) || strings.Contains(body, `"aws/creds/vault-ws"`)):
			leases = append(leases, rec.Response.Secret.LeaseID)
		case r.Type == "broker.lease.revoke": // one record for the leases revoked together
			var revoked struct {
				Leases []struct {
					LeaseID string            `json:"lease_id"`
					Meta    map[string]string `json:"meta"`
				} `json:"leases"`
			}
			must(json.Unmarshal(r.Body, &revoked))
			for _, l := range revoked.Leases {
				if l.Meta["terraform_run_id"] == run.ID {
					revokedBy[l.LeaseID] = rec.Reason
				}
			}
		}
	}
	if logins != 2 || len(leases) != 2 || len(revokedBy) != 2 {
		t.Fatalf("audit: %d logins, credential reads with leases %q, revocations naming the run %q; want 2 each", logins, leases, revokedBy)
	}
	for _, id := range leases {
		if reason, ok := revokedBy[id]; id == "" || !ok || reason == "expired" {
			t.Errorf("lease %q of a credential read: revoked %v, reason %q; want revoked at the phase's end", id, ok, reason)
		}
	}
	for _, p := range []string{"aws/creds/vault-ws", "aws/sts/vault-ws"} {
		if l, err := root.Logical().List("sys/leases/lookup/" + p); err != nil || l != nil {
			t.Fatalf("leases left under %s: %v, %v", p, l, err)
		}
	}

	// The canary: nothing the agent was handed, and no sensitive value, is
	// anywhere it must not be.
	secrets := append(rec.all(), canary, canary+"-env", password)
	if len(secrets) < 8 {
		t.Fatalf("recorded only %d secrets; the recorder missed the credentials", len(secrets))
	}
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID)
	must(err)
	out, err := m.Admin().GetObject(ctx, &s3.GetObjectInput{Bucket: awssdk.String("tfstate"), Key: awssdk.String("vault/terraform.tfstate")})
	must(err)
	state, err := io.ReadAll(out.Body)
	out.Body.Close()
	must(err)
	places := map[string][]byte{"logs": []byte(logs), "plan JSON": pj, "state": state, "server log": []byte(w.serverLog.String())}
	for _, f := range []string{"runcred.db", "runcred.db-wal"} {
		b, err := os.ReadFile(filepath.Join(w.srv.Dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		places[f] = b
	}
	for name, b := range places {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a secret (%.6s…) is in the %s", s, name)
			}
		}
	}
}
