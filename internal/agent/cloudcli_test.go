package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/peers/tools"
)

// The CLIs' cloud block and remote backend pointed at runcred: the real
// OpenTofu and Terraform on this machine, the run on an in-process agent.

// newTLSWorld is newWorld with the server on HTTPS, which OpenTofu's and
// Terraform's service discovery require, on the database url names ("" for
// a fresh SQLite), and the agent trusting the server's CA.
func newTLSWorld(t *testing.T, url string, hooks map[string]string) *world {
	t.Helper()
	var dir string // the server's, where its CA is
	w := newWorldWith(t, hooks, func(c *daemon.Config) {
		daemontest.TLS(t)(c)
		dir = filepath.Dir(c.RootKeyFile)
		if url != "" {
			c.Database = url
		}
	}, func(c *agent.Config) { c.HTTPClient = (&daemontest.Server{Dir: dir}).HTTPClient(t) })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", w.serverLog.String())
		}
	})
	return w
}

// clis are the command-line tools a user may point at runcred.
var clis = []string{"tofu", "terraform"}

func cliBinary(t *testing.T, name string) string {
	t.Helper()
	return tools.Path(t, "bin/"+name)
}

// cliWork is a working directory driven by a real OpenTofu or Terraform
// CLI against the world's server, with a token in the CLI configuration's
// credentials block, or in TF_TOKEN_<host> when envToken.
type cliWork struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	host string
}

func newCLIWork(t *testing.T, w *world, cli, token string, envToken bool) *cliWork {
	t.Helper()
	_, mirror := tools.OpenTofu(t)
	home := t.TempDir()
	host := strings.TrimPrefix(w.srv.D.URL(), "https://")
	cfg := map[string]any{"provider_installation": map[string]any{
		"filesystem_mirror": []any{map[string]any{"path": mirror, "include": []string{"registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"}}},
		"direct":            []any{map[string]any{"exclude": []string{"registry.opentofu.org/*/*", "registry.terraform.io/*/*"}}},
	}}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "TF_CLI_CONFIG_FILE=" + filepath.Join(home, "cli.tfrc.json"),
		"TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "SSL_CERT_FILE=" + w.srv.CAFile(),
	}
	if envToken {
		// Dots become underscores; a port stays as it is (shells cannot
		// export such a name, env(1) and exec can).
		env = append(env, "TF_TOKEN_"+strings.ReplaceAll(host, ".", "_")+"="+token)
	} else {
		cfg["credentials"] = map[string]any{host: map[string]any{"token": token}}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "cli.tfrc.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliWork{t: t, bin: cliBinary(t, cli), dir: t.TempDir(), host: host, env: env}
}

func (c *cliWork) write(name, body string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(body), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// block is the terraform block naming runcred: kind is "cloud" or
// "remote", workspaces the inner workspaces block's body.
func (c *cliWork) block(kind, workspaces string) string {
	head := "cloud"
	if kind == "remote" {
		head = `backend "remote"`
	}
	return "terraform {\n  " + head + " {\n    hostname     = \"" + c.host + "\"\n    organization = \"demo\"\n    workspaces {\n      " +
		workspaces + "\n    }\n  }\n}\n"
}

// run runs the CLI with stdin and returns its combined output and exit code.
func (c *cliWork) run(stdin string, args ...string) (string, int) {
	c.t.Helper()
	p := c.start(args...)
	if _, err := io.WriteString(p.stdin, stdin); err != nil {
		c.t.Fatal(err)
	}
	return p.wait()
}

// ok runs the CLI with no input and fails the test unless it exits 0.
func (c *cliWork) ok(args ...string) string {
	c.t.Helper()
	out, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("%s %s exited %d:\n%s", filepath.Base(c.bin), strings.Join(args, " "), code, out)
	}
	return out
}

// proc is a CLI process whose output the test reads as it comes.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	lines chan string
	done  chan struct{}
}

func (c *cliWork) start(args ...string) *proc {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	c.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	p := &proc{t: c.t, cmd: cmd, stdin: stdin, lines: make(chan string, 4096), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		pw.Close()
	}()
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return p
}

// until reads the output until a line contains s; the process ending
// first fails the test.
func (p *proc) until(s string) {
	p.t.Helper()
	for line := range p.lines {
		if strings.Contains(line, s) {
			return
		}
	}
	out, code := p.wait()
	p.t.Fatalf("ended (%d) without printing %q:\n%s", code, s, out)
}

// wait waits for the process and returns its output and exit code.
func (p *proc) wait() (string, int) {
	p.stdin.Close()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	code := p.cmd.ProcessState.ExitCode()
	return p.out.String(), code
}

// release lets a run held by holdHook go on.
func release(t *testing.T, w *world) {
	t.Helper()
	d := w.runDir(t)
	if d == "" {
		t.Fatal("no run is holding")
	}
	if err := os.WriteFile(filepath.Join(d, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hooks are the agent's hooks for these tests: a phase whose
// configuration has a file named hold-plan (hold-apply) says so in the log, then waits for
// the test to write release into the run's working directory; then the
// phase probes MinIO with its own credentials (probeHook).
func cliHooks(t *testing.T) map[string]string {
	bin, _ := tools.OpenTofu(t)
	m := map[string]string{}
	for name, ph := range map[string]string{"terraform-pre-plan": "plan", "terraform-pre-apply": "apply"} {
		probe := strings.TrimPrefix(probeHook(bin, `"probe/${TFC_RUN_ID}-`+ph+`.tfstate"`), "#!/bin/sh\n")
		m[name] = "#!/bin/sh\nif [ -f hold-" + ph + " ]; then\n  echo \"HOLDING " + ph + "\"\n  while [ ! -f release ]; do sleep 0.05; done\n  rm -f release\nfi\n" +
			strings.ReplaceAll(probe, "${PROBE_PHASE}", ph)
	}
	return m
}

func (c *cliWork) remove(name string) {
	c.t.Helper()
	if err := os.Remove(filepath.Join(c.dir, name)); err != nil {
		c.t.Fatal(err)
	}
}
