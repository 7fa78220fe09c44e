package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/peers/tools"
)

// lockedBuffer is a bytes.Buffer a running command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// envOf is a process environment holding only vars.
func envOf(vars map[string]string) env { return func(k string) string { return vars[k] } }

// startDev runs `runcred dev --tls` on dir with the in-process agent until
// the test ends (or stop is called), and returns its API URL and output.
func startDev(t *testing.T, dir string) (url string, out *lockedBuffer, stop func()) {
	t.Helper()
	tofu, mirror := tools.OpenTofu(t)
	out = &lockedBuffer{}
	var errOut lockedBuffer
	root := newRoot(envOf(nil), out, &errOut)
	root.SetArgs([]string{"dev", "--tls", "--data-dir", dir, "--addr", "127.0.0.1:0", "--tofu", tofu, "--provider-mirror", mirror, "--log-level", "warn"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dev: %v\n%s", err, errOut.String())
			}
		})
	}
	t.Cleanup(stop)
	api := regexp.MustCompile(`API: +(\S+)`)
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops it.") {
		select {
		case err := <-done:
			t.Fatalf("dev exited: %v\n%s\n%s", err, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev did not start:\n%s\n%s", out.String(), errOut.String())
		}
	}
	return api.FindStringSubmatch(out.String())[1], out, stop
}

// verb runs a client verb with only vars in its environment.
func verb(vars map[string]string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	root := newRoot(envOf(vars), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestDevTLS: `runcred dev --tls` serves HTTPS with an https issuer; CLI
// verbs and the in-process agent (a plan and an apply through OpenTofu)
// work with the CA trusted only through RUNCRED_CACERT or --ca-cert, never
// through the system's CAs; a restart keeps the CA.
func TestDevTLS(t *testing.T) {
	dir := t.TempDir()
	url, out, stop := startDev(t, dir)
	ca := filepath.Join(dir, "tls", "ca.pem")
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("API URL %q", url)
	}
	for _, want := range []string{"Issuer:     " + url, "RUNCRED_CACERT=" + ca, "SSL_CERT_FILE=" + ca, "VAULT_CACERT=" + ca, "AWS_CA_BUNDLE=" + ca, "TFC_VAULT_ENCODED_CACERT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dev's banner lacks %q:\n%s", want, out.String())
		}
	}
	vars := map[string]string{"RUNCRED_ADDR": url, "RUNCRED_TOKEN_FILE": filepath.Join(dir, "root-token")}
	// The system's CAs do not vouch for the certificate.
	if _, err := verb(vars, "workspace", "create", "demo/tls", "--create-org"); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("without the CA: %v", err)
	}
	if _, err := verb(vars, "workspace", "list", "demo", "--ca-cert", filepath.Join(dir, "root-token")); !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("--ca-cert of a file without a certificate: %v", err)
	}
	vars["RUNCRED_CACERT"] = ca
	if _, err := verb(vars, "workspace", "create", "demo/tls", "--create-org"); err != nil {
		t.Fatalf("workspace create with RUNCRED_CACERT: %v", err)
	}

	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "main.tf"), []byte(`resource "terraform_data" "x" { input = "over https" }`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plan, err := verb(vars, "run", "start", "demo/tls", cfgDir)
	if err != nil || !strings.Contains(plan, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("run start: %v\n%s", err, plan)
	}
	id := strings.Fields(plan[strings.Index(plan, "runcred run apply ")+len("runcred run apply "):])[0]
	delete(vars, "RUNCRED_CACERT")
	if apply, err := verb(vars, "run", "apply", id, "--ca-cert", ca); err != nil || !strings.Contains(apply, "Apply complete! Resources: 1 added") {
		t.Fatalf("run apply with --ca-cert: %v\n%s", err, apply)
	}
	vars["RUNCRED_CACERT"] = ca

	// SSL_CERT_FILE replaces the system's CAs for Go programs on Linux, the
	// CLI included; it is read once per process, so a child process runs it.
	child := exec.Command(os.Args[0], "-test.run=^TestCLIChild$")
	child.Env = append(os.Environ(), "RUNCRED_TEST_CLI_CHILD=workspace list demo", "SSL_CERT_FILE="+ca,
		"RUNCRED_ADDR="+url, "RUNCRED_TOKEN_FILE="+vars["RUNCRED_TOKEN_FILE"], "RUNCRED_CACERT=")
	if out, err := child.CombinedOutput(); err != nil || !strings.Contains(string(out), "tls") {
		t.Fatalf("workspace list with SSL_CERT_FILE: %v\n%s", err, out)
	}

	// The issuer is the https URL, in the discovery document too.
	c, err := clientFlagsFor(vars)
	if err != nil {
		t.Fatal(err)
	}
	var disc identity.Discovery
	if err := c.do(context.Background(), "GET", "/.well-known/openid-configuration", nil, &disc); err != nil || disc.Issuer != url || disc.JWKSURI != url+"/.well-known/jwks" {
		t.Fatalf("discovery: %+v %v", disc, err)
	}

	// A run's tools reach runcred's broker over HTTPS: the workspace gives
	// the CA in TFC_VAULT_ENCODED_CACERT, the agent logs in with it and hands
	// it to the run as VAULT_CACERT, and the real vault provider reads a
	// secret with it during the plan.
	vaultRun(t, c, vars, url, ca)

	// Restarting keeps the CA, so whatever trusts it keeps working.
	caBefore, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	url2, _, _ := startDev(t, dir)
	caAfter, err := os.ReadFile(ca)
	if err != nil || !bytes.Equal(caBefore, caAfter) {
		t.Fatalf("the CA changed on restart (%v)", err)
	}
	vars["RUNCRED_ADDR"] = url2
	if list, err := verb(vars, "workspace", "list", "demo"); err != nil || !strings.Contains(list, "tls") {
		t.Fatalf("after restart: %v\n%s", err, list)
	}
}

// vaultRun sets up JWT login and a KV secret on dev's broker as root and
// plans, in workspace demo/vault, a configuration that reads the secret with
// terraform-provider-vault.
func vaultRun(t *testing.T, root *client, vars map[string]string, url, ca string) {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []struct {
		method, path string
		body         map[string]any
	}{
		{"POST", "/v1/sys/auth/jwt", map[string]any{"type": "jwt"}},
		{"POST", "/v1/auth/jwt/config", map[string]any{"oidc_discovery_url": url, "bound_issuer": url, "oidc_discovery_ca_pem": string(pem)}},
		{"POST", "/v1/auth/jwt/role/vault-ws", map[string]any{"role_type": "jwt", "user_claim": "terraform_full_workspace",
			"bound_audiences": []string{"vault.workload.identity"}, "bound_claims_type": "glob",
			"bound_claims":   map[string]any{"sub": "organization:demo:project:Default Project:workspace:vault:run_phase:*"},
			"token_policies": []string{"read-demo"}, "token_ttl": "20m"}},
		{"PUT", "/v1/sys/policies/acl/read-demo", map[string]any{"policy": `path "secret/data/demo" { capabilities = ["read"] }`}},
		{"POST", "/v1/sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}},
		{"POST", "/v1/secret/data/demo", map[string]any{"data": map[string]any{"text": "read over https"}}},
	} {
		if err := root.do(ctx, r.method, r.path, r.body, nil); err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
	}
	if _, err := verb(vars, "workspace", "create", "demo/vault"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{
		{"TFC_VAULT_PROVIDER_AUTH", "true"}, {"TFC_VAULT_ADDR", url}, {"TFC_VAULT_RUN_ROLE", "vault-ws"},
		{"TFC_VAULT_ENCODED_CACERT", base64.StdEncoding.EncodeToString(pem)},
	} {
		if _, err := verb(vars, "var", "set", "demo/vault", kv[0], kv[1], "--env"); err != nil {
			t.Fatalf("var set %s: %v", kv[0], err)
		}
	}
	dir := t.TempDir()
	cfg := `provider "vault" { skip_child_token = true }
data "vault_kv_secret_v2" "demo" {
  mount = "secret"
  name  = "demo"
}
output "text" { value = nonsensitive(data.vault_kv_secret_v2.demo.data["text"]) }
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := verb(vars, "run", "start", "demo/vault", dir)
	if err != nil || !strings.Contains(out, `+ text = "read over https"`) {
		t.Fatalf("a plan reading the broker over HTTPS: %v\n%s", err, out)
	}
}

// TestCLIChild runs the command line in RUNCRED_TEST_CLI_CHILD with this
// process's environment, for tests that need a fresh process; otherwise it
// does nothing.
func TestCLIChild(t *testing.T) {
	args := os.Getenv("RUNCRED_TEST_CLI_CHILD")
	if args == "" {
		return
	}
	os.Exit(Main(strings.Fields(args), strings.NewReader(""), os.Stdout, os.Stderr))
}

// clientFlagsFor resolves a client from vars as the verbs do.
func clientFlagsFor(vars map[string]string) (*client, error) {
	root := newRoot(envOf(vars), &bytes.Buffer{}, &bytes.Buffer{})
	return clientFlags(root, envOf(vars))()
}

// TestKeyCompromiseVerbs: identity rotate --force and revoke-key as root,
// and refused for a token without sudo on their paths.
func TestKeyCompromiseVerbs(t *testing.T) {
	s := startServer(t)
	keys := func() map[string]string {
		out := s.ok("identity", "keys")
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			f := strings.Fields(l)
			m[f[1]] = f[0]
		}
		return m
	}
	before := keys()
	s.fails(s.Token, 1, "--force", "identity", "rotate")
	out := s.ok("identity", "rotate", "--force")
	if !strings.Contains(out, "current: "+before["next"]) || !strings.Contains(out, "retired: "+before["current"]) ||
		!strings.Contains(out, "runcred identity revoke-key -- "+before["current"]) || !strings.Contains(out, "warning: ") {
		t.Fatalf("rotate --force:\n%s", out)
	}
	s.fails(s.Token, 1, "no such key", "identity", "revoke-key", "--", "nope")
	s.fails(s.Token, 1, "rotate first", "identity", "revoke-key", "--", before["next"])
	if out := s.ok("identity", "revoke-key", "--", before["current"]); !strings.Contains(out, "revoked: "+before["current"]+" (was retired)") {
		t.Fatalf("revoke-key:\n%s", out)
	}
	if _, ok := keys()["retired"]; ok {
		t.Fatal("the revoked key is still listed")
	}

	// A token of the default policy only.
	var tok struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		}
	}
	c, err := clientFlagsFor(map[string]string{"RUNCRED_ADDR": s.D.URL(), "RUNCRED_TOKEN": s.Token})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.do(context.Background(), "POST", "/v1/auth/token/create", map[string]any{"policies": []string{"default"}}, &tok); err != nil {
		t.Fatal(err)
	}
	after := keys()
	s.fails(tok.Auth.ClientToken, 1, "permission denied", "identity", "rotate", "--force")
	s.fails(tok.Auth.ClientToken, 1, "permission denied", "identity", "revoke-key", "--", after["next"])
	if got := keys(); got["current"] != after["current"] || got["next"] != after["next"] {
		t.Fatalf("refused verbs changed the keys: %v → %v", after, got)
	}
}

// TestDevTLSRefusals: --tls with a certificate of one's own, and a data
// dir whose CA cannot be made, are refused before anything is served.
func TestDevTLSRefusals(t *testing.T) {
	dir := t.TempDir()
	_, err := verb(nil, "dev", "--tls", "--data-dir", dir, "--addr", "127.0.0.1:0", "--no-agent", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem")
	if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "without --tls") {
		t.Fatalf("--tls with --tls-cert-file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls"), []byte("a file where the directory goes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := verb(nil, "dev", "--tls", "--data-dir", dir, "--addr", "127.0.0.1:0", "--no-agent"); err == nil || !strings.Contains(err.Error(), "development CA") {
		t.Fatalf("an unusable tls/ directory: %v", err)
	}
}

// TestAgentVerbOverHTTPS: `runcred agent --ca-cert` claims and runs a plan
// from a server whose certificate only that CA vouches for; a CA file that
// holds no certificate is refused before the agent starts.
func TestAgentVerbOverHTTPS(t *testing.T) {
	tofu, mirror := tools.OpenTofu(t)
	s := daemontest.Start(t, daemontest.TLS(t))
	ca := s.CAFile()
	tok, err := s.D.DefaultAgentToken(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"agent", "--addr", s.D.URL(), "--token", tok.RevealString(), "--tofu", tofu, "--provider-mirror", mirror, "--log-level", "warn"}
	if _, err := verb(nil, append(args, "--ca-cert", filepath.Join(s.Dir, "root-token"))...); !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "--ca-cert") {
		t.Fatalf("agent with a CA file that holds no certificate: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRoot(envOf(map[string]string{"RUNCRED_CACERT": ca}), &lockedBuffer{}, &lockedBuffer{})
		root.SetArgs(args)
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	vars := map[string]string{"RUNCRED_ADDR": s.D.URL(), "RUNCRED_TOKEN": s.Token, "RUNCRED_CACERT": ca}
	if _, err := verb(vars, "workspace", "create", "demo/agent", "--create-org"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`resource "terraform_data" "x" {}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := verb(vars, "run", "start", "demo/agent", dir); err != nil || !strings.Contains(out, "Plan: 1 to add") {
		t.Fatalf("run start: %v\n%s", err, out)
	}
}
