package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/peers/tools"
	"github.com/runcred/runcred/internal/secret"
)

// TestVerbsWithARealAgent: the agent as `runcred agent` configures it runs
// the plan and the apply that `run start` and `run apply` follow, with
// OpenTofu from the project's tools.
func TestVerbsWithARealAgent(t *testing.T) {
	tofu, mirror := tools.OpenTofu(t)
	s := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	tok, err := s.D.DefaultAgentToken(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := agentFlags{tofu: tofu, mirror: mirror, concurrency: 2}
	cfg, err := f.config(s.D.URL(), tok, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Poll = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})

	s.ok("workspace", "create", "demo/real", "--create-org")
	s.runcred("s3cret-value-xyz\n", "var", "set", "demo/real", "password", "-", "--sensitive")
	dir := t.TempDir()
	// The apply prints the sensitive value (local-exec), not into the state.
	cfgText := `variable "password" { sensitive = true }
resource "terraform_data" "x" {
  input = nonsensitive(length(var.password))
  provisioner "local-exec" { command = "echo password=${nonsensitive(var.password)}" }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	out := s.ok("run", "start", "demo/real", dir)
	if !strings.Contains(out, "Plan: 1 to add, 0 to change, 0 to destroy.") || !strings.Contains(out, "runcred run apply run-") {
		t.Fatalf("run start:\n%s", out)
	}
	id := out[strings.Index(out, "runcred run apply ")+len("runcred run apply "):]
	id = strings.Fields(id)[0]
	out = s.ok("run", "apply", id)
	if !strings.Contains(out, "Apply complete! Resources: 1 added") || !strings.Contains(out, "applied") ||
		!strings.Contains(out, "terraform_data.x (local-exec): password=***") || strings.Contains(out, "s3cret-value-xyz") {
		t.Fatalf("run apply:\n%s", out)
	}
	if st := s.ok("state", "pull", "demo/real"); !strings.Contains(st, `"terraform_data"`) || strings.Contains(st, "s3cret-value-xyz") {
		t.Fatalf("state pull:\n%s", st)
	}
}

// TestAgentIsolationSetting: --isolation takes sandbox or none, from the
// flag or RUNCRED_ISOLATION (the flag wins); anything else is refused.
func TestAgentIsolationSetting(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string // the isolation, or the error's text
		ok   bool
	}{
		{nil, "", "sandbox", true},
		{nil, "none", "none", true},
		{[]string{"--isolation=sandbox"}, "none", "sandbox", true},
		{[]string{"--isolation=none"}, "", "none", true},
		{[]string{"--isolation=vm"}, "", "--isolation must be sandbox or none", false},
		{nil, "off", "--isolation must be sandbox or none", false},
		{[]string{"--run-uid=-1"}, "", "--run-uid and --run-gid must be positive", false},
	} {
		var f agentFlags
		cmd := &cobra.Command{}
		f.register(cmd)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		f.resolve(cmd, func(k string) string {
			if k == "RUNCRED_ISOLATION" {
				return c.env
			}
			return ""
		})
		f.tofu = "/bin/true"
		cfg, err := f.config("http://127.0.0.1:1", secret.FromString("t"), slog.New(slog.DiscardHandler))
		switch {
		case c.ok && err != nil:
			t.Errorf("%v %q: %v", c.args, c.env, err)
		case c.ok && string(cfg.Isolation) != c.want:
			t.Errorf("%v %q: isolation %q, want %q", c.args, c.env, cfg.Isolation, c.want)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v %q: err = %v, want %q", c.args, c.env, err, c.want)
		}
	}
}

// TestDevAgentHidesRootToken: dev's in-process agent runs phases in the
// sandbox, where the root token file in the data directory does not
// exist, and masks the root token (which its process holds) in every log,
// here handed to the run in a plain variable.
func TestDevAgentHidesRootToken(t *testing.T) {
	tofu, mirror := tools.OpenTofu(t)
	s := startServer(t)
	f := agentFlags{tofu: tofu, mirror: mirror, concurrency: 1}
	cfg, err := f.config("", secret.Value{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Poll = 50 * time.Millisecond
	tokenFile := filepath.Join(s.Dir, "root-token")
	ctx, cancel := context.WithCancel(context.Background())
	wait := startDevAgent(ctx, s.D, cfg, tokenFile)
	if wait == nil {
		t.Fatal("the dev agent did not start")
	}
	t.Cleanup(func() { cancel(); wait() })

	s.ok("workspace", "create", "demo/leak", "--create-org")
	s.ok("var", "set", "demo/leak", "LEAK", s.Token, "--env")
	s.ok("var", "set", "demo/leak", "TOKEN_FILE", tokenFile, "--env")
	dir := t.TempDir()
	cfgText := `resource "terraform_data" "x" {
  provisioner "local-exec" { command = "echo root=$LEAK; cat $TOKEN_FILE 2>&1 | sed s/^/file:/" }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	out := s.ok("run", "start", "demo/leak", dir)
	id := strings.Fields(out[strings.Index(out, "runcred run apply ")+len("runcred run apply "):])[0]
	out = s.ok("run", "apply", id)
	if !strings.Contains(out, "(local-exec): root=***") || !strings.Contains(out, "file:cat: "+tokenFile+": No such file or directory") ||
		strings.Contains(out, s.Token) {
		t.Fatalf("run apply:\n%s", out)
	}
}
