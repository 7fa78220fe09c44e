package daemon_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/peers/minio"
)

// stateRW lets the broker's MinIO user read and write the state bucket only.
const stateRW = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
 "Resource":["arn:aws:s3:::ws1-state","arn:aws:s3:::ws1-state/*"]}]}`

const vaultAud = "vault.workload.identity"

func vaultClient(t *testing.T, n *node, tok string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = n.d.URL()
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

func vaultStatus(err error) int {
	if re, ok := err.(*vault.ResponseError); ok {
		return re.StatusCode
	}
	return 0
}

// TestRunFlowThroughBroker is the Vault-backed credential path end to end: a
// run's workload-identity token logs in to the broker's jwt method, reads
// AWS credentials that MinIO's STS issued, uses them on S3, and revokes its
// token, which takes the lease with it.
func TestRunFlowThroughBroker(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, nil)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": stateRW}, Buckets: []string{"ws1-state", "other"}})
	password := rand.Text()
	m.AddUser(t, "runcred-broker", password, "state-rw")

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
	must(root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	write("auth/jwt/config", map[string]any{"oidc_discovery_url": n.d.PublicURL(), "bound_issuer": n.d.PublicURL()})
	write("auth/jwt/role/ws1-plan", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{vaultAud}, "user_claim": "terraform_full_workspace",
		"bound_claims":   map[string]any{"sub": "organization:demo:project:Default Project:workspace:ws1:run_phase:plan"},
		"token_policies": []string{"aws-ws1"}, "token_ttl": "20m",
	})
	must(root.Sys().PutPolicy("aws-ws1", `path "aws/creds/ws1" { capabilities = ["read"] }`))
	must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write("aws/config/root", map[string]any{"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"})
	write("aws/roles/ws1", map[string]any{"credential_type": "assumed_role", "role_arns": []string{"arn:aws:iam::123456789012:role/ws1"}})

	// The secret key is never read back.
	cfg, err := root.Logical().Read("aws/config/root")
	must(err)
	if _, leaked := cfg.Data["secret_key"]; leaked {
		t.Fatal("aws/config/root returned the secret key")
	}

	login := func(ws, phase, audience string) (*vault.Secret, error) {
		tok := n.mint(t, mintArgs{Workspace: ws, Phase: phase, Audience: audience})
		return vaultClient(t, n, "").Logical().Write("auth/jwt/login", map[string]any{"role": "ws1-plan", "jwt": tok.Token})
	}
	// Another workspace, another phase, another audience: Vault's 400.
	for _, bad := range [][4]string{
		{"ws2", "plan", vaultAud, "error validating claims: "},
		{"ws1", "apply", vaultAud, "error validating claims: "},
		{"ws1", "plan", "aws.workload.identity", "error validating token: "},
	} {
		_, err := login(bad[0], bad[1], bad[2])
		if vaultStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), bad[3]) {
			t.Errorf("login as %v: %v, want 400 %q", bad[:3], err, bad[3])
		}
	}

	sec, err := login("ws1", "plan", vaultAud)
	must(err)
	if sec.Auth.Metadata["terraform_run_id"] != "run-test1" || sec.Auth.Metadata["terraform_run_phase"] != "plan" {
		t.Fatalf("token metadata does not name the run: %v", sec.Auth.Metadata)
	}
	run := vaultClient(t, n, sec.Auth.ClientToken)
	creds, err := run.Logical().Read("aws/creds/ws1")
	must(err)
	if !strings.HasPrefix(creds.LeaseID, "aws/creds/ws1/") || creds.Renewable || creds.Data["security_token"] != creds.Data["session_token"] {
		t.Fatalf("creds response: lease %q renewable %v", creds.LeaseID, creds.Renewable)
	}
	s3c := m.S3(awssdk.Credentials{AccessKeyID: creds.Data["access_key"].(string), SecretAccessKey: creds.Data["secret_key"].(string),
		SessionToken: creds.Data["security_token"].(string)})
	if err := put(ctx, s3c, "ws1-state"); err != nil {
		t.Fatalf("broker-issued credentials on S3: %s", code(err))
	}
	if err := put(ctx, s3c, "other"); !strings.HasPrefix(code(err), "AccessDenied") {
		t.Fatalf("outside the policy: %s", code(err))
	}
	// The run's token reaches nothing else.
	if _, err := run.Logical().Read("aws/creds/other"); vaultStatus(err) != http.StatusForbidden {
		t.Fatalf("read outside policy: %v", err)
	}

	// End of the phase: revoke-self takes the token and its lease.
	must(run.Auth().Token().RevokeSelf(""))
	if _, err := run.Auth().Token().LookupSelf(); vaultStatus(err) != http.StatusForbidden {
		t.Fatalf("token alive after revoke-self: %v", err)
	}
	if _, err := root.Sys().Lookup(creds.LeaseID); vaultStatus(err) != http.StatusBadRequest {
		t.Fatalf("lease alive after revoke-self: %v", err)
	}
	recs, err := n.d.Audit.Tail(ctx, 200)
	must(err)
	var revoked bool
	for _, r := range recs {
		if r.Type == "broker.lease.revoke" && strings.Contains(string(r.Body), creds.LeaseID) && strings.Contains(string(r.Body), "run-test1") {
			revoked = true
		}
		body := string(r.Body)
		for _, s := range []string{sec.Auth.ClientToken, creds.Data["secret_key"].(string), creds.Data["security_token"].(string), password} {
			if strings.Contains(body, s) {
				t.Fatalf("audit record %d holds a secret in plain text", r.Seq)
			}
		}
	}
	if !revoked {
		t.Fatal("no audit record of the lease's revocation naming the run")
	}
	rep, err := n.d.Audit.Verify(ctx)
	must(err)
	if rep.Broken != nil {
		t.Fatalf("audit chain broken: %+v", rep.Broken)
	}
}
