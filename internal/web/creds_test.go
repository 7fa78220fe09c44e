package web_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/minio"
)

// TestRunCredentialsVaultBacked: a run of a workspace with Vault-backed AWS
// credentials (runcred's broker, AWS keys from MinIO's STS) shows, per
// phase, the workload identity token for the broker's audience, the
// broker token its jwt login got, and the AWS lease with its role, from
// the audit log; no page holds a key or a token. On both databases.
func TestRunCredentialsVaultBacked(t *testing.T) { daemontest.Each(t, testRunCredentialsVaultBacked) }

func testRunCredentialsVaultBacked(t *testing.T, start daemontest.Starter) {
	srv := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": bucketRW}, Buckets: []string{"ws1-state"}})
	password := rand.Text()
	m.AddUser(t, "runcred-broker", password, "state-rw")
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = srv.D.URL(), 0
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken(srv.Token)
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
	const roleARN = "arn:aws:iam::123456789012:role/ws1"
	must(root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}))
	write("auth/jwt/config", map[string]any{"oidc_discovery_url": srv.D.PublicURL(), "bound_issuer": srv.D.PublicURL()})
	write("auth/jwt/role/ws1", map[string]any{
		"role_type": "jwt", "bound_audiences": []string{"vault.workload.identity"}, "user_claim": "terraform_full_workspace",
		"bound_claims_type": "glob", "bound_claims": map[string]any{"sub": "organization:acme:project:Default Project:workspace:prod:run_phase:*"},
		"token_policies": []string{"aws-ws1"}, "token_ttl": "20m",
	})
	must(root.Sys().PutPolicy("aws-ws1", `path "aws/creds/ws1" { capabilities = ["read", "update"] }
path "aws/sts/ws1" { capabilities = ["read", "update"] }`))
	must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write("aws/config/root", map[string]any{"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"})
	write("aws/roles/ws1", map[string]any{"credential_type": "assumed_role", "role_arns": []string{roleARN}})

	tc, err := tfe.NewClient(&tfe.Config{Address: srv.D.URL(), Token: srv.Token, RetryServerErrors: false})
	must(err)
	_, err = tc.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String("acme"), Email: tfe.String("ops@acme.test")})
	must(err)
	ws, err := tc.Workspaces.Create(ctx, "acme", tfe.WorkspaceCreateOptions{Name: tfe.String("prod"), AutoApply: tfe.Bool(true)})
	must(err)
	for k, v := range map[string]string{
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": srv.D.URL(), "TFC_VAULT_RUN_ROLE": "ws1",
		"TFC_VAULT_BACKED_AWS_AUTH": "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE": "assumed_role",
		"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "ws1", "TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN": roleARN,
	} {
		_, err := tc.Variables.Create(ctx, ws.ID, tfe.VariableCreateOptions{Key: tfe.String(k), Value: tfe.String(v), Category: tfe.Category(tfe.CategoryEnv)})
		must(err)
	}
	startAgent(t, srv, t.TempDir(), t.TempDir())
	cv, err := tc.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	must(err)
	dir := t.TempDir()
	must(writeFile(dir, "main.tf", `resource "terraform_data" "x" {}`))
	must(tc.ConfigurationVersions.Upload(ctx, cv.UploadURL, dir))
	r, err := tc.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws})
	must(err)
	for {
		got, err := tc.Runs.Read(ctx, r.ID)
		must(err)
		if got.Status == tfe.RunApplied {
			break
		}
		if got.Status == tfe.RunErrored || got.Status == tfe.RunCanceled {
			t.Fatalf("the run ended %s", got.Status)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the run is still %s", got.Status)
		case <-time.After(50 * time.Millisecond):
		}
	}

	b := newBrowser(t, srv)
	b.signIn(srv.Token)
	page := b.get("/app/runs/"+r.ID, http.StatusOK)
	table := page[strings.Index(page, `<table class="creds">`):]
	table = table[:strings.Index(table, "</table>")]
	for _, phase := range []string{"plan", "apply"} {
		for _, row := range []string{
			"<td>" + phase + "</td><td>workload identity token</td><td>vault.workload.identity</td>",
			"<td>" + phase + "</td><td>broker token (jwt login)</td><td></td><td>ws1</td>",
			"<td>" + phase + "</td><td>aws</td><td></td><td>ws1</td><td><code>aws/sts/ws1/",
		} {
			if !strings.Contains(table, row) {
				t.Errorf("the run's credentials lack %s:\n%s", row, table)
			}
		}
	}
	wsPage := b.get("/app/orgs/acme", http.StatusOK)
	if !strings.Contains(wsPage, "Vault-backed AWS") {
		t.Error("the workspace list does not name the Vault-backed AWS credential mode")
	}
	b.get("/app/broker", http.StatusOK)
	b.get("/app/audit?run="+r.ID, http.StatusOK)
	b.scan(password, srv.Token, "eyJhbGciOi", m.RootPassword)
}
