package creds_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/peers/minio"
	"github.com/runcred/runcred/internal/secret"
)

func plan() creds.Run {
	return creds.Run{ID: "run-flow1", Organization: "demo", Project: "Default Project", Workspace: "ws1", Phase: jobapi.Plan}
}

// timers is an injected After: the first call fires at once, later ones
// never, and each call's duration is recorded.
type timers struct {
	mu    sync.Mutex
	waits []time.Duration
	fire  int // how many calls fire at once
	calls chan struct{}
}

func (tm *timers) After(d time.Duration) <-chan time.Time {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.waits = append(tm.waits, d)
	if tm.calls != nil {
		select {
		case tm.calls <- struct{}{}:
		default:
		}
	}
	if tm.fire > 0 {
		tm.fire--
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	return nil // never fires
}

// TestVaultBackedAWS is §2.3 + §2.4 against runcred's broker over TLS: the
// run logs in with its own token, the Vault token works with the official
// client, the shared credentials file works on MinIO's S3, renewal reaches
// the broker, and Close revokes the token and every lease.
func TestVaultBackedAWS(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": stateRW}, Buckets: []string{"ws1-state", "other"}})
	setupBroker(t, n, m)
	addr, ca := tlsFront(t, n)
	root := vaultClient(t, n.d.URL(), n.token, nil)

	// The agent's own environment must play no part.
	t.Setenv("VAULT_TOKEN", n.token)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_NAMESPACE", "agent-ns")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	env := map[string]string{
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": addr, "TFC_VAULT_RUN_ROLE": "ws1-plan", "TFC_VAULT_ENCODED_CACERT": ca,
		"TFC_VAULT_BACKED_AWS_AUTH": "true", "TFC_VAULT_BACKED_AWS_AUTH_B": "true",
		"TFC_DEFAULT_VAULT_BACKED_AWS_AUTH_TYPE": "assumed_role", "TFC_DEFAULT_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "ws1",
		"TFC_VAULT_BACKED_AWS_PLAN_ROLE_ARN": roleARN, "TFC_VAULT_BACKED_AWS_SLEEP_SECONDS": "30",
	}
	dir := t.TempDir()
	clock := time.Now()
	tm := &timers{fire: 1} // the sleep after reading credentials
	r, err := creds.Prepare(ctx, creds.Config{Dir: dir, Env: env, Run: plan(), Minter: httpMinter{n, plan()},
		Now: func() time.Time { return clock }, After: tm.After})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(ctx) })
	if !slices.Equal(tm.waits, []time.Duration{30 * time.Second}) {
		t.Fatalf("waits %v: want one 30s wait (TFC_VAULT_BACKED_AWS_SLEEP_SECONDS, default config only)", tm.waits)
	}

	// The Vault token, as the provider would use it.
	if r.Env["VAULT_ADDR"] != addr || r.Env["VAULT_NAMESPACE"] != "" || r.Env["VAULT_CACERT"] != filepath.Join(dir, "tfc-vault-ca-cert") {
		t.Fatalf("vault env: %v", r.Env)
	}
	tok := r.Env["VAULT_TOKEN"]
	run := vaultClient(t, r.Env["VAULT_ADDR"], tok, &vault.TLSConfig{CACert: r.Env["VAULT_CACERT"]})
	run.ClearNamespace()
	self, err := run.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("VAULT_TOKEN does not work: %v", err)
	}
	if meta, _ := self.Data["meta"].(map[string]any); meta["terraform_run_id"] != "run-flow1" || meta["terraform_run_phase"] != "plan" {
		t.Fatalf("token metadata: %v", self.Data["meta"])
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "tfc-vault-token")); string(b) != tok {
		t.Fatal("token file does not hold VAULT_TOKEN")
	}

	// Both shared credentials files work on S3, within the role's policy.
	files := map[string]string{"default": r.Env["AWS_SHARED_CREDENTIALS_FILE"], "B": filepath.Join(dir, "tfc-vault-backed-aws-shared-credentials-B")}
	if files["default"] != filepath.Join(dir, "tfc-vault-backed-aws-shared-credentials") {
		t.Fatalf("AWS_SHARED_CREDENTIALS_FILE = %q", files["default"])
	}
	if !strings.Contains(r.Env["TF_VAR_tfc_vault_backed_aws_dynamic_credentials"], `"B":{"shared_credentials_file":"`+files["B"]+`"}`) {
		t.Fatalf("tfc_vault_backed_aws_dynamic_credentials = %s", r.Env["TF_VAR_tfc_vault_backed_aws_dynamic_credentials"])
	}
	for name, f := range files {
		v := iniValues(t, f)
		for _, k := range []string{"aws_secret_access_key", "aws_session_token"} {
			if !slices.ContainsFunc(r.Secrets, func(s secret.Value) bool { return s.RevealString() == v[k] }) {
				t.Errorf("%s: %s not in Secrets", name, k)
			}
		}
		s3c := m.S3(awssdk.Credentials{AccessKeyID: v["aws_access_key_id"], SecretAccessKey: v["aws_secret_access_key"], SessionToken: v["aws_session_token"]})
		if err := put(ctx, s3c, "ws1-state"); err != nil {
			t.Fatalf("%s credentials on S3: %s", name, code(err))
		}
		if err := put(ctx, s3c, "other"); !strings.HasPrefix(code(err), "AccessDenied") {
			t.Fatalf("%s credentials outside the policy: %s", name, code(err))
		}
	}
	if len(r.Leases) != 2 || !strings.HasPrefix(r.Leases[0], "aws/sts/ws1/") {
		t.Fatalf("leases %q", r.Leases)
	}
	for _, l := range r.Leases {
		if _, err := root.Sys().Lookup(l); err != nil {
			t.Fatalf("lease %s: %v", l, err)
		}
	}

	// Renewal: 11 minutes on, the 20-minute token is due.
	clock = clock.Add(11 * time.Minute)
	tm.mu.Lock()
	tm.fire, tm.calls = 1, make(chan struct{}, 10)
	tm.mu.Unlock()
	started := make(chan error, 1)
	go func() { started <- r.Start(ctx) }()
	<-tm.calls // the first wait, which fires
	<-tm.calls // the wait after renewing
	renewed := false
	recs, err := n.d.Audit.Tail(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Type == "broker.response" && strings.Contains(string(rec.Body), "auth/token/renew-self") {
			renewed = true
		}
	}
	if !renewed {
		t.Fatal("no renew-self reached the broker")
	}

	// End of phase.
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := run.Auth().Token().LookupSelf(); vaultStatus(err) != http.StatusForbidden {
		t.Fatalf("token alive after Close: %v", err)
	}
	for _, l := range r.Leases {
		if _, err := root.Sys().Lookup(l); vaultStatus(err) != http.StatusBadRequest {
			t.Fatalf("lease %s alive after Close: %v", l, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := root.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the root token (the agent's VAULT_TOKEN) was touched: %v", err)
	}

	// Without the CA the TLS front is not trusted: nothing is left behind.
	delete(env, "TFC_VAULT_ENCODED_CACERT")
	dir2 := t.TempDir()
	if _, err := creds.Prepare(ctx, creds.Config{Dir: dir2, Env: env, Run: plan(), Minter: httpMinter{n, plan()}}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted Vault: %v", err)
	}
	if left, _ := os.ReadDir(dir2); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
}

// TestVaultLoginRefused: another phase's token is refused by the role's
// bound claims, and the error says so.
func TestVaultLoginRefused(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": stateRW}, Buckets: []string{"ws1-state"}})
	setupBroker(t, n, m)
	apply := plan()
	apply.Phase = jobapi.Apply
	dir := t.TempDir()
	_, err := creds.Prepare(ctx, creds.Config{Dir: dir, Run: apply, Minter: httpMinter{n, apply}, Env: map[string]string{
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": n.d.URL(), "TFC_VAULT_RUN_ROLE": "ws1-plan"}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "TFC_VAULT_PROVIDER_AUTH") {
		t.Fatalf("apply token on the plan role: %v", err)
	}
}

// TestAWSDirectOnMinIO is §2.1: the SDK's web-identity provider, given only
// what Prepare put in the environment, gets credentials from MinIO's STS.
func TestAWSDirectOnMinIO(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	const ws1 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],
 "Resource":["arn:aws:s3:::ws1-state/*"],
 "Condition":{"StringLike":{"jwt:sub":["organization:demo:project:Default Project:workspace:ws1:run_phase:plan"]}}}]}`
	m := minio.Start(t, minio.Options{
		OpenID:   []minio.OpenID{{ConfigURL: n.d.PublicURL() + "/.well-known/openid-configuration", ClientID: "aws.workload.identity", RolePolicy: "ws1"}},
		Policies: map[string]string{"ws1": ws1}, Buckets: []string{"ws1-state", "other"},
	})
	dir := t.TempDir()
	r, err := creds.Prepare(ctx, creds.Config{Dir: dir, Run: plan(), Minter: httpMinter{n, plan()}, Env: map[string]string{
		"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": m.RoleARNs[""]}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: awssdk.String(m.URL), Credentials: awssdk.AnonymousCredentials{}, Retryer: awssdk.NopRetryer{}})
	p := stscreds.NewWebIdentityRoleProvider(client, r.Env["AWS_ROLE_ARN"], stscreds.IdentityTokenFile(r.Env["AWS_WEB_IDENTITY_TOKEN_FILE"]),
		func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = r.Env["AWS_ROLE_SESSION_NAME"] })
	c, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity with the run's token file: %s", code(err))
	}
	if err := put(ctx, m.S3(c), "ws1-state"); err != nil {
		t.Fatalf("credentials on S3: %s", code(err))
	}
	if err := put(ctx, m.S3(c), "other"); !strings.HasPrefix(code(err), "AccessDenied") {
		t.Fatalf("outside the policy: %s", code(err))
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Retrieve(ctx); err == nil {
		t.Fatal("the token file outlived Close")
	}
}
