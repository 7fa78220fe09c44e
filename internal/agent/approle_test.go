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
	"github.com/runcred/runcred/internal/peers/stsfake"
	"github.com/runcred/runcred/internal/peers/tools"
)

// loginTap keeps the client token of every Vault login the agent makes,
// so a test can check each is revoked once its phase is over.
type loginTap struct {
	next   http.RoundTripper
	mu     sync.Mutex
	tokens []string
}

func (l *loginTap) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/login") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var out struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if json.Unmarshal(b, &out) == nil && out.Auth.ClientToken != "" {
		l.mu.Lock()
		l.tokens = append(l.tokens, out.Auth.ClientToken)
		l.mu.Unlock()
	}
	return resp, nil
}

func (l *loginTap) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tokens...)
}

// rootVault is the official client with the server's root token.
func rootVault(t *testing.T, w *world) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = w.srv.D.URL(), 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(w.srv.Token)
	return c
}

// vaultSetup writes to the broker as its administrator.
func vaultSetup(t *testing.T, root *vault.Client) (must func(error), write func(string, map[string]any) *vault.Secret) {
	must = func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write = func(path string, data map[string]any) *vault.Secret {
		t.Helper()
		s, err := root.Logical().Write(path, data)
		must(err)
		return s
	}
	return must, write
}

// appRole creates AppRole name with token policy policy, and returns its
// role ID and a fresh secret ID.
func appRole(t *testing.T, root *vault.Client, name, policy string) (roleID, secretID string) {
	t.Helper()
	_, write := vaultSetup(t, root)
	write("auth/approle/role/"+name, map[string]any{"token_policies": []string{policy}, "token_ttl": "20m"})
	rid, err := root.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return rid.Data["role_id"].(string), write("auth/approle/role/"+name+"/secret-id", nil).Data["secret_id"].(string)
}

// brokerRequests counts the broker's audited requests to path.
func brokerRequests(t *testing.T, w *world, path string) int {
	t.Helper()
	recs, err := w.srv.D.Audit.Tail(ctxT(t), 2000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == "broker.request" && strings.Contains(string(r.Body), `"`+path+`"`) {
			n++
		}
	}
	return n
}

// runError is the run's error message.
func runError(t *testing.T, w *world, run *tfe.Run) string {
	t.Helper()
	var attrs struct {
		ErrorMessage string `json:"error-message"`
	}
	if code := w.api(t, w.srv.Token, "GET", "/api/v2/runs/"+run.ID, nil, &attrs); code != http.StatusOK {
		t.Fatalf("read run: %d", code)
	}
	return attrs.ErrorMessage
}

// TestVaultAppRoleRun is the operator model's better path: the workspace
// holds an AppRole's role_id and secret_id as sensitive variables, and
// TFC_VAULT_AUTH_TYPE=approle has the agent log in with them, read AWS
// credentials of the one role the AppRole's policy allows, and hand them
// to the run as a shared credentials file. The s3 backend keeps the state
// in the granted bucket; a hook in each phase is refused a write to
// another. OpenTofu never sees the secret ID (the configuration's own
// secret_id keeps its default). After each phase the Vault token and its
// lease are revoked; no secret the agent was handed, the secret ID
// included, is in the logs, the plan JSON, the state, the server's log or
// the database files. Then the refusals: a secret ID in a variable that is
// not sensitive, a wrong role ID, and a Vault address the guard does not
// allow, which never receives the secret ID.
func TestVaultAppRoleRun(t *testing.T) {
	bin, _ := tools.OpenTofu(t)
	probe := probeHook(bin, `"probe/${TFC_RUN_ID}-${PROBE_PHASE}.tfstate"`)
	rec := &recorder{secrets: map[string]bool{}}
	tap := &loginTap{next: rec}
	w := newWorld(t, map[string]string{"terraform-pre-plan": strings.ReplaceAll(probe, "${PROBE_PHASE}", "plan"),
		"terraform-pre-apply": strings.ReplaceAll(probe, "${PROBE_PHASE}", "apply")}, func(c *agent.Config) {
		c.HTTPClient = &http.Client{Transport: rec}
		c.VaultClient = &http.Client{Transport: tap}
	})
	ctx := ctxT(t)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Action":["s3:GetObject","s3:PutObject","s3:ListBucket","s3:DeleteObject"],"Resource":["arn:aws:s3:::tfstate","arn:aws:s3:::tfstate/*"]}]}`},
		Buckets: []string{"tfstate", "other"}})
	password := rand.Text()
	m.AddUser(t, "runcred-broker", password, "state-rw")

	root := rootVault(t, w)
	must, write := vaultSetup(t, root)
	const roleARN = "arn:aws:iam::123456789012:role/ops"
	must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write("aws/config/root", map[string]any{"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"})
	write("aws/roles/ops", map[string]any{"credential_type": "assumed_role", "role_arns": []string{roleARN}})
	write("aws/roles/admin", map[string]any{"credential_type": "assumed_role", "role_arns": []string{roleARN}})
	must(root.Sys().PutPolicy("ops-aws", `path "aws/sts/ops" { capabilities = ["update"] }`))
	must(root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
	roleID, secretID := appRole(t, root, "ops", "ops-aws")

	// The agent's own Vault and AWS settings must play no part in a run.
	t.Setenv("VAULT_TOKEN", w.srv.Token)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", m.RootUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.RootPassword)

	settings := func(addr string, kv ...string) map[string]string {
		vars := map[string]string{
			"env:TFC_VAULT_PROVIDER_AUTH": "true", "env:TFC_VAULT_ADDR": addr, "env:TFC_VAULT_AUTH_TYPE": "approle",
			"env:TFC_VAULT_BACKED_AWS_AUTH": "true", "env:TFC_VAULT_BACKED_AWS_AUTH_TYPE": "assumed_role",
			"env:TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "ops", "env:TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN": roleARN,
		}
		for i := 0; i+1 < len(kv); i += 2 {
			vars[kv[i]] = kv[i+1]
		}
		return vars
	}
	ws := w.workspace(t, "ops", false, settings(w.srv.D.URL(), "role_id!", roleID, "secret_id!", secretID,
		"env:PROBE_MINIO", m.URL, "env:PROBE_BUCKET", "other"))
	w.upload(t, ws, map[string]string{"main.tf": s3Backend(m.URL, "ops/terraform.tfstate") + `
variable "role_id" { sensitive = true }
variable "secret_id" {
  type      = string
  sensitive = true
  default   = "withheld"
}
resource "terraform_data" "x" { input = "hello" }
output "secret_id_withheld" { value = nonsensitive(var.secret_id == "withheld") }
output "role_id_length" { value = nonsensitive(length(var.role_id)) }
`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	if err := w.tfe.Runs.Apply(ctx, run.ID, tfe.RunApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	run = w.wait(t, run.ID, tfe.RunApplied)
	logs := w.logs(t, run)
	for _, want := range []string{"PROBE own plan: WRITE DENIED AccessDenied", "PROBE own apply: WRITE DENIED AccessDenied",
		"the variable secret_id holds the AppRole secret ID", "Apply complete! Resources: 1 added"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	out, err := m.Admin().GetObject(ctx, &s3.GetObjectInput{Bucket: awssdk.String("tfstate"), Key: awssdk.String("ops/terraform.tfstate")})
	must(err)
	state, err := io.ReadAll(out.Body)
	out.Body.Close()
	must(err)
	var st struct {
		Outputs map[string]struct{ Value any } `json:"outputs"`
	}
	must(json.Unmarshal(state, &st))
	if st.Outputs["secret_id_withheld"].Value != true || st.Outputs["role_id_length"].Value != float64(len(roleID)) {
		t.Fatalf("outputs %+v: OpenTofu saw the secret ID, or not the role ID", st.Outputs)
	}

	// Each phase logged in with the AppRole; its token and the lease of its
	// credential read are revoked at the phase's end.
	tokens := tap.all()
	if len(tokens) != 2 || brokerRequests(t, w, "auth/approle/login") != 2 {
		t.Fatalf("%d logins seen, %d audited; want one per phase", len(tokens), brokerRequests(t, w, "auth/approle/login"))
	}
	for _, tok := range tokens {
		c, err := root.Clone()
		must(err)
		c.SetToken(tok)
		if _, err := c.Auth().Token().LookupSelf(); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("a phase's Vault token outlived its phase: %v", err)
		}
	}
	recs, err := w.srv.D.Audit.Tail(ctx, 2000)
	must(err)
	var leases []string
	revokedBy := map[string]string{}
	for _, r := range recs {
		var body struct {
			Response struct {
				Secret struct {
					LeaseID string `json:"lease_id"`
				} `json:"secret"`
			} `json:"response"`
			Reason string `json:"reason"`
		}
		must(json.Unmarshal(r.Body, &body))
		switch {
		case r.Type == "broker.response" && strings.Contains(string(r.Body), `"aws/sts/ops"`):
			leases = append(leases, body.Response.Secret.LeaseID)
		case r.Type == "broker.lease.revoke": // one record for the leases revoked together
			var revoked struct {
				Leases []struct {
					LeaseID string `json:"lease_id"`
				} `json:"leases"`
			}
			must(json.Unmarshal(r.Body, &revoked))
			for _, l := range revoked.Leases {
				revokedBy[l.LeaseID] = body.Reason
			}
		}
	}
	if len(leases) != 2 {
		t.Fatalf("credential reads with leases %q; want one per phase", leases)
	}
	for _, id := range leases {
		if reason, ok := revokedBy[id]; id == "" || !ok || reason == "expired" {
			t.Errorf("lease %q: revoked %v, reason %q; want revoked at the phase's end", id, ok, reason)
		}
	}
	if l, err := root.Logical().List("sys/leases/lookup/aws/sts/ops"); err != nil || l != nil {
		t.Fatalf("leases left: %v, %v", l, err)
	}

	// Nothing secret is anywhere it must not be.
	secrets := append(rec.all(), tokens...)
	secrets = append(secrets, secretID, roleID, password)
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID)
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

	// Refusals. A secret ID anyone may read is refused before it is sent.
	logins := brokerRequests(t, w, "auth/approle/login")
	plain := w.workspace(t, "plain", false, settings(w.srv.D.URL(), "role_id!", roleID, "secret_id", secretID))
	w.upload(t, plain, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	r := w.wait(t, w.start(t, plain).ID, tfe.RunErrored)
	if msg := runError(t, w, r); !strings.Contains(msg, `the variable "secret_id" holds the AppRole secret ID but is not sensitive`) {
		t.Errorf("non-sensitive secret ID: run error %q", msg)
	}
	if n := brokerRequests(t, w, "auth/approle/login"); n != logins {
		t.Errorf("a non-sensitive secret ID was sent to Vault (%d logins, want %d)", n, logins)
	}
	// A wrong role ID: Vault refuses it, and the run says so.
	bad := w.workspace(t, "bad", false, settings(w.srv.D.URL(), "role_id!", "00000000-0000-0000-0000-000000000000", "secret_id!", secretID))
	w.upload(t, bad, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	r = w.wait(t, w.start(t, bad).ID, tfe.RunErrored)
	if msg := runError(t, w, r); !strings.Contains(msg, "TFC_VAULT_PROVIDER_AUTH: logging in to Vault") || !strings.Contains(msg, "invalid role or secret ID") {
		t.Errorf("wrong role ID: run error %q", msg)
	}
	// A Vault the guard does not allow never sees the secret ID.
	listener, conns := countingListener(t)
	foreign := w.workspace(t, "foreign", false, settings(listener, "role_id!", roleID, "secret_id!", secretID))
	w.upload(t, foreign, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	r = w.wait(t, w.start(t, foreign).ID, tfe.RunErrored)
	if msg := runError(t, w, r); !strings.Contains(msg, "TFC_VAULT_ADDR") || !strings.Contains(msg, "vault-addresses") {
		t.Errorf("foreign Vault: run error %q", msg)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the foreign Vault received %d connections", n)
	}
}

// TestVaultAppRoleClassic is the classic operator configuration, which
// must keep working: the real vault provider logs in with the AppRole of
// the workspace's sensitive role_id and secret_id variables and reads
// vault_aws_access_credentials from the broker (an AWS engine on the STS
// fake, which answers the GetCallerIdentity the data source checks its
// credentials with). It works, and shows why the agent's path is better:
// the keys it read are in the state. The secret ID is not in the logs,
// the plan JSON or the state.
func TestVaultAppRoleClassic(t *testing.T) {
	w := newWorld(t, nil, nil)
	ctx := ctxT(t)
	st := stsfake.Start(t, stsfake.Options{Roles: []string{"arn:aws:iam::123456789012:role/deploy"}})
	root := rootVault(t, w)
	must, write := vaultSetup(t, root)
	must(root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}))
	write("aws/config/root", map[string]any{"access_key": st.AccessKey, "secret_key": st.SecretKey, "sts_endpoint": st.URL, "region": "us-east-1"})
	write("aws/roles/deploy", map[string]any{"credential_type": "assumed_role", "role_arns": []string{"arn:aws:iam::123456789012:role/deploy"}})
	must(root.Sys().PutPolicy("deploy", `path "aws/sts/deploy" { capabilities = ["read", "update"] }
path "aws/creds/deploy" { capabilities = ["read", "update"] }`))
	must(root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}))
	roleID, secretID := appRole(t, root, "deploy", "deploy")

	ws := w.workspace(t, "classic", true, map[string]string{"role_id!": roleID, "secret_id!": secretID,
		"env:VAULT_ADDR": w.srv.D.URL(), "env:AWS_ENDPOINT_URL_STS": st.URL, "env:AWS_EC2_METADATA_DISABLED": "true"})
	w.upload(t, ws, map[string]string{"main.tf": `
variable "role_id" { sensitive = true }
variable "secret_id" { sensitive = true }
provider "vault" {
  skip_child_token = true
  auth_login {
    path       = "auth/approle/login"
    parameters = { role_id = var.role_id, secret_id = var.secret_id }
  }
}
data "vault_aws_access_credentials" "deploy" {
  backend = "aws"
  role    = "deploy"
  type    = "sts"
  region  = "us-east-1"
}
resource "terraform_data" "x" { input = data.vault_aws_access_credentials.deploy.lease_duration }
`})
	run := w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	logs := w.logs(t, run)
	if !strings.Contains(logs, "Apply complete! Resources: 1 added") {
		t.Fatalf("log:\n%s", logs)
	}
	if n := brokerRequests(t, w, "auth/approle/login"); n == 0 {
		t.Fatal("no AppRole login reached the broker: the provider did not log in")
	}
	state := w.state(t, ws)
	var sv struct {
		Resources []struct {
			Type      string `json:"type"`
			Instances []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	must(json.Unmarshal(state, &sv))
	keys := ""
	for _, r := range sv.Resources {
		if r.Type == "vault_aws_access_credentials" && len(r.Instances) == 1 {
			keys, _ = r.Instances[0].Attributes["secret_key"].(string)
		}
	}
	if keys == "" {
		t.Fatalf("the classic path's keys are not in the state, as they should be:\n%s", state)
	}
	pj, err := w.tfe.Plans.ReadJSONOutput(ctx, run.Plan.ID)
	must(err)
	for name, b := range map[string][]byte{"logs": []byte(logs), "plan JSON": pj, "state": state} {
		if bytes.Contains(b, []byte(secretID)) {
			t.Errorf("the secret ID is in the %s", name)
		}
	}
}
