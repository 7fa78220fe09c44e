package creds_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/peers/minio"
	"github.com/runcred/runcred/internal/secret"
)

// setupAppRole adds to setupBroker's broker an AppRole "ws1" whose tokens
// may only obtain credentials of the AWS role ws1, and returns its role ID
// and a fresh secret ID.
func setupAppRole(t *testing.T, n *node) (roleID, secretID string) {
	t.Helper()
	root := vaultClient(t, n.d.URL(), n.token, nil)
	if err := root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("approle-ws1", `path "aws/sts/ws1" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/ws1", map[string]any{"token_policies": []string{"approle-ws1"}, "token_ttl": "20m"}); err != nil {
		t.Fatal(err)
	}
	rid, err := root.Logical().Read("auth/approle/role/ws1/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/approle/role/ws1/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	return rid.Data["role_id"].(string), sid.Data["secret_id"].(string)
}

// appRoleEnv logs in with an AppRole and reads Vault-backed AWS credentials
// of role ws1 with the token.
func appRoleEnv(addr string) map[string]string {
	return map[string]string{
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": addr, "TFC_VAULT_AUTH_TYPE": "approle",
		"TFC_VAULT_BACKED_AWS_AUTH": "true", "TFC_VAULT_BACKED_AWS_AUTH_TYPE": "assumed_role",
		"TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE": "ws1", "TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN": roleARN,
	}
}

func tfVar(key, value string, sensitive bool) jobapi.Variable {
	return jobapi.Variable{Key: key, Value: value, Category: "terraform", Sensitive: sensitive}
}

// TestVaultAppRole: TFC_VAULT_AUTH_TYPE=approle logs in with the role and
// secret ID of the workspace's sensitive role_id and secret_id variables,
// mints no workload-identity token (no Minter is given), withholds the
// secret ID's variable from the run, and reads AWS credentials that work
// on the granted bucket only; Close revokes the token and the lease.
func TestVaultAppRole(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": stateRW}, Buckets: []string{"ws1-state", "other"}})
	setupBroker(t, n, m)
	roleID, secretID := setupAppRole(t, n)
	root := vaultClient(t, n.d.URL(), n.token, nil)
	t.Setenv("VAULT_TOKEN", n.token) // the agent's own; it must play no part

	dir := t.TempDir()
	vars := []jobapi.Variable{tfVar("role_id", roleID, true), tfVar("secret_id", secretID, true), tfVar("region", "us-east-1", false)}
	r, err := creds.Prepare(ctx, creds.Config{Dir: dir, Env: appRoleEnv(n.d.URL()), Variables: vars, Run: plan()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(ctx) })
	if !slices.Equal(r.Withheld, []string{"secret_id"}) {
		t.Fatalf("withheld %q, want the secret ID's variable", r.Withheld)
	}
	tok := r.Env["VAULT_TOKEN"]
	for name, s := range map[string]string{"secret ID": secretID, "role ID": roleID, "Vault token": tok} {
		if s == "" || !slices.ContainsFunc(r.Secrets, func(v secret.Value) bool { return v.RevealString() == s }) {
			t.Errorf("the %s is not among the secrets for the redactor", name)
		}
	}
	run := vaultClient(t, r.Env["VAULT_ADDR"], tok, nil)
	self, err := run.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("VAULT_TOKEN does not work: %v", err)
	}
	if pols, _ := self.TokenPolicies(); !slices.Contains(pols, "approle-ws1") {
		t.Fatalf("the token's policies %v: not the AppRole's", pols)
	}
	if _, err := run.Logical().Write("aws/sts/other", nil); vaultStatus(err) != http.StatusForbidden {
		t.Fatalf("the AppRole's token reached another AWS role: %v", err)
	}

	v := iniValues(t, r.Env["AWS_SHARED_CREDENTIALS_FILE"])
	s3c := m.S3(awssdk.Credentials{AccessKeyID: v["aws_access_key_id"], SecretAccessKey: v["aws_secret_access_key"], SessionToken: v["aws_session_token"]})
	if err := put(ctx, s3c, "ws1-state"); err != nil {
		t.Fatalf("the credentials on the granted bucket: %s", code(err))
	}
	if err := put(ctx, s3c, "other"); !strings.HasPrefix(code(err), "AccessDenied") {
		t.Fatalf("the credentials on another bucket: %s", code(err))
	}
	if len(r.Leases) != 1 || !strings.HasPrefix(r.Leases[0], "aws/sts/ws1/") {
		t.Fatalf("leases %q", r.Leases)
	}
	if _, err := root.Sys().Lookup(r.Leases[0]); err != nil {
		t.Fatalf("lease %s: %v", r.Leases[0], err)
	}

	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Auth().Token().LookupSelf(); vaultStatus(err) != http.StatusForbidden {
		t.Fatalf("token alive after Close: %v", err)
	}
	if _, err := root.Sys().Lookup(r.Leases[0]); vaultStatus(err) != http.StatusBadRequest {
		t.Fatalf("lease alive after Close: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
}

// TestVaultAppRoleRefused: every way the AppRole's variables can be wrong
// fails the phase with a message naming the variable or the setting, and
// leaves nothing behind; only a wrong ID is refused by Vault itself, and
// no message quotes an ID.
func TestVaultAppRoleRefused(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	m := minio.Start(t, minio.Options{Policies: map[string]string{"state-rw": stateRW}, Buckets: []string{"ws1-state"}})
	setupBroker(t, n, m)
	roleID, secretID := setupAppRole(t, n)
	logins := func() int {
		t.Helper()
		recs, err := n.d.Audit.Tail(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		for _, rec := range recs {
			if rec.Type == "broker.request" && (strings.Contains(string(rec.Body), `"auth/approle/login"`) || strings.Contains(string(rec.Body), `"auth/jwt/login"`)) {
				c++
			}
		}
		return c
	}
	env := appRoleEnv(n.d.URL())
	with := func(kv ...string) map[string]string {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	rid, sid := tfVar("role_id", roleID, true), tfVar("secret_id", secretID, true)
	plain, hcl, envSid := sid, sid, sid
	plain.Sensitive = false
	hcl.HCL = true
	envSid.Category = "env"
	cases := []struct {
		name   string
		env    map[string]string
		vars   []jobapi.Variable
		vault  bool // the login reaches Vault
		errors []string
	}{
		{"secret ID not sensitive", env, []jobapi.Variable{rid, plain}, false,
			[]string{"TFC_VAULT_PROVIDER_AUTH", `"secret_id" holds the AppRole secret ID but is not sensitive`}},
		{"no secret ID variable", env, []jobapi.Variable{rid}, false, []string{"TFC_VAULT_AUTH_TYPE names the variable \"secret_id\""}},
		{"named variable missing", with("TFC_VAULT_PLAN_APPROLE_SECRET_ID_VARIABLE", "plan_secret_id"), []jobapi.Variable{rid, sid}, false,
			[]string{"TFC_VAULT_PLAN_APPROLE_SECRET_ID_VARIABLE names the variable \"plan_secret_id\""}},
		{"secret ID in both categories", env, []jobapi.Variable{rid, sid, envSid}, false, []string{"both as a Terraform and as an environment variable"}},
		{"secret ID is HCL", env, []jobapi.Variable{rid, hcl}, false, []string{`"secret_id" is HCL`}},
		{"empty role ID", env, []jobapi.Variable{tfVar("role_id", "", true), sid}, false, []string{`"role_id"`, "is empty"}},
		{"wrong role ID", env, []jobapi.Variable{tfVar("role_id", "not-"+roleID, true), sid}, true,
			[]string{"TFC_VAULT_PROVIDER_AUTH: logging in to Vault", "auth/approle/login", "HTTP 400", "invalid role or secret ID"}},
		{"wrong secret ID", env, []jobapi.Variable{rid, tfVar("secret_id", "x"+secretID, true)}, true, []string{"invalid role or secret ID"}},
		{"wrong mount", with("TFC_VAULT_AUTH_PATH", "jwt"), []jobapi.Variable{rid, sid}, true, []string{"auth/jwt/login", "HTTP 400"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := logins()
			dir := t.TempDir()
			_, err := creds.Prepare(ctx, creds.Config{Dir: dir, Env: c.env, Variables: c.vars, Run: plan()})
			mustContain(t, err, c.errors...)
			for _, v := range c.vars {
				if len(v.Value) > 8 && strings.Contains(err.Error(), v.Value) {
					t.Errorf("the error quotes the variable %s: %v", v.Key, err)
				}
			}
			if got := logins() - before; (got == 1) != c.vault || got > 1 {
				t.Errorf("%d logins reached the broker; want one: %v", got, c.vault)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("files left: %v", left)
			}
		})
	}
}

func mustContain(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not contain %q", err, w)
		}
	}
}
