package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
)

// newTLSWorld is newWorld with the server on HTTPS, which OpenTofu's and
// Terraform's service discovery require, and the agent trusting its CA.
func newTLSWorld(t *testing.T, hooks map[string]string) *world {
	t.Helper()
	var srv *daemontest.Server
	w := newWorldWith(t, func(c *daemon.Config) { daemontest.TLS(t)(c) }, hooks, func(c *agent.Config) {
		c.HTTPClient = srv.HTTPClient(t)
	}, &srv)
	return w
}

// cliWork is a working directory driven by a real OpenTofu or Terraform
// CLI against the world's server.
type cliWork struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	host string
}

func newCLIWork(t *testing.T, w *world, bin string) *cliWork {
	t.Helper()
	_, mirror := tools.OpenTofu(t)
	home := t.TempDir()
	host := strings.TrimPrefix(w.srv.D.URL(), "https://")
	cli, err := json.Marshal(map[string]any{
		"provider_installation": map[string]any{
			"filesystem_mirror": []any{map[string]any{"path": mirror, "include": []string{"registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"}}},
			"direct":            []any{map[string]any{"exclude": []string{"registry.opentofu.org/*/*", "registry.terraform.io/*/*"}}},
		},
		"credentials": map[string]any{host: map[string]any{"token": w.srv.Token}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "cli.tfrc.json"), cli, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliWork{t: t, bin: bin, dir: t.TempDir(), host: host, env: []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TF_CLI_CONFIG_FILE=" + filepath.Join(home, "cli.tfrc.json"),
		"TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "SSL_CERT_FILE=" + w.srv.CAFile(),
	}}
}

func (c *cliWork) write(name, body string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(body), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// run runs the CLI with stdin and returns its combined output and exit code.
func (c *cliWork) run(stdin string, args ...string) (string, int) {
	c.t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = c.dir, c.env, &out, &out
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode()
	} else if err != nil {
		c.t.Fatalf("%s %s: %v", c.bin, args[0], err)
	}
	return out.String(), 0
}

// ok runs the CLI and fails the test unless it exits 0.
func (c *cliWork) ok(args ...string) string {
	c.t.Helper()
	out, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("%s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func TestCloudCLIExplore(t *testing.T) {
	w := newTLSWorld(t, nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(w.serverLog.String())
		}
	})
	_ = slog.Default
	tofu, _ := tools.OpenTofu(t)
	c := newCLIWork(t, w, tofu)
	w.workspace(t, "net", false, map[string]string{"gen": "1"})
	c.write("main.tf", `
terraform {
  cloud {
    hostname     = "`+c.host+`"
    organization = "demo"
    workspaces { name = "net" }
  }
}
variable "gen" { type = number }
resource "terraform_data" "a" { input = "a-${var.gen}" }
output "a" { value = terraform_data.a.output }
`)
	t.Log(c.ok("init", "-input=false", "-no-color"))
	t.Log(c.ok("plan", "-input=false", "-no-color"))
	t.Log(c.ok("apply", "-input=false", "-no-color", "-auto-approve"))
	t.Log(c.ok("output", "-no-color"))
	_ = tfe.RunApplied
}
