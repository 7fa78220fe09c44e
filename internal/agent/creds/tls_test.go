package creds_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/agent/creds"
	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// TestVaultLoginOverRuncredHTTPS: a run logs in to runcred's own broker,
// served over HTTPS with a certificate from a CA the system does not
// trust, because the workspace gives that CA in TFC_VAULT_ENCODED_CACERT;
// the run's tools get it as VAULT_CACERT, and the official client trusts
// the broker with it. Without the variable the login is refused on the
// certificate. The broker verifies the run's token against its own https
// issuer, trusting the CA through oidc_discovery_ca_pem.
func TestVaultLoginOverRuncredHTTPS(t *testing.T) {
	ctx := context.Background()
	n := startNodeWith(t, daemontest.TLS(t))
	if !strings.HasPrefix(n.d.URL(), "https://") || n.caFile == "" {
		t.Fatalf("not serving HTTPS: %s", n.d.URL())
	}
	caPEM, err := os.ReadFile(n.caFile)
	if err != nil {
		t.Fatal(err)
	}
	root := vaultClient(t, n.d.URL(), n.token, &vault.TLSConfig{CACert: n.caFile})
	if err := root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"auth/jwt/config": {"oidc_discovery_url": n.d.PublicURL(), "bound_issuer": n.d.PublicURL(), "oidc_discovery_ca_pem": string(caPEM)},
		"auth/jwt/role/ws1-plan": {"role_type": "jwt", "bound_audiences": []string{"vault.workload.identity"}, "user_claim": "terraform_full_workspace",
			"bound_claims": map[string]any{"sub": "organization:demo:project:Default Project:workspace:ws1:run_phase:plan"}, "token_ttl": "20m"},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	env := map[string]string{
		"TFC_VAULT_PROVIDER_AUTH": "true", "TFC_VAULT_ADDR": n.d.URL(), "TFC_VAULT_RUN_ROLE": "ws1-plan",
	}
	// The agent's HTTP client trusts only the system's CAs.
	if _, err := creds.Prepare(ctx, creds.Config{Dir: t.TempDir(), Env: env, Run: plan(), Minter: httpMinter{n, plan()}}); err == nil ||
		!strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("without TFC_VAULT_ENCODED_CACERT: %v", err)
	}

	env["TFC_VAULT_ENCODED_CACERT"] = base64.StdEncoding.EncodeToString(caPEM)
	dir := t.TempDir()
	r, err := creds.Prepare(ctx, creds.Config{Dir: dir, Env: env, Run: plan(), Minter: httpMinter{n, plan()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(ctx) })
	if r.Env["VAULT_ADDR"] != n.d.URL() || r.Env["VAULT_CACERT"] != filepath.Join(dir, "tfc-vault-ca-cert") {
		t.Fatalf("run env: %v", r.Env)
	}
	if b, err := os.ReadFile(r.Env["VAULT_CACERT"]); err != nil || string(b) != string(caPEM) {
		t.Fatalf("VAULT_CACERT holds %q (%v)", b, err)
	}
	run := vaultClient(t, r.Env["VAULT_ADDR"], r.Env["VAULT_TOKEN"], &vault.TLSConfig{CACert: r.Env["VAULT_CACERT"]})
	self, err := run.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("VAULT_TOKEN over HTTPS: %v", err)
	}
	if meta, _ := self.Data["meta"].(map[string]any); meta["terraform_run_phase"] != "plan" {
		t.Fatalf("token metadata: %v", self.Data["meta"])
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Auth().Token().LookupSelf(); err == nil {
		t.Fatal("the run's token outlived the phase")
	}
}
