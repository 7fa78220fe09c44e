package agent_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/peers/tools"
)

// attackConfig is what an attacker with a team token can upload: during
// plan, file functions probe absolute paths of the host; during apply, a
// local-exec reads the server's root token, canaries in the agent's home
// and data directory, the agent's environment through /proc, and another
// run's directory while that run is alive, then tries to write outside
// its run directory. Markers show each part ran.
const attackConfig = `
variable "paths" { type = list(string) }
output "planprobe" {
  value = "PLANPROBE ${join(",", [for p in var.paths : fileexists(p) ? "SEEN:${p}" : "absent"])}"
}
resource "terraform_data" "attack" {
  provisioner "local-exec" {
    command = <<-EOT
      echo "APPLY-RAN $WS"
      for f in "$ROOT_TOKEN_FILE" "$DATA_CANARY" "$HOME_CANARY" "/proc/$AGENT_PID/environ" /proc/1/environ; do
        echo "reading $f"; cat "$f" 2>&1 | tr '\0' '\n' | grep -v '^TF_\|^HOME=\|^PATH=\|^WS=\|^CHECKPOINT' 
      done
      echo "peer-canary-$WS-Hq3" > mine
      touch waiting
      while [ ! -e go ]; do sleep 0.05; done
      echo "peers:"; cat "$WORK_ROOT"/runcred-run-*/config/mine 2>&1; ls "$WORK_ROOT" 2>&1
      echo leak > "$DATA_DIR/escaped-$WS" 2>&1 || echo "WRITE-REF""USED data"
      echo leak > "$HOME_DIR/escaped-$WS" 2>&1 || echo "WRITE-REF""USED home"
      echo leak > "/tmp/runcred-escaped-$WS" && echo "PRIVATE-TMP""-WRITE"
      echo "APPLY-DONE $WS"
    EOT
  }
}
`

// TestSandboxHidesHost: two runs at once on one agent, each attacking as
// attackConfig does, see none of the host's secrets, not each other, and
// leave nothing outside their run directories; each part of the attack
// demonstrably ran.
func TestSandboxHidesHost(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	envCanary := "env-canary-Vx81qPz"
	t.Setenv("RUNCRED_SANDBOX_TEST_CANARY", envCanary)
	homeCanary, dataCanary := "home-canary-L2m9Qa", "data-canary-7TzWk0"
	w := newWorld(t, nil, nil)
	homeFile, dataFile := filepath.Join(home, ".canary"), filepath.Join(w.srv.Dir, "canary")
	for f, v := range map[string]string{homeFile: homeCanary, dataFile: dataCanary} {
		if err := os.WriteFile(f, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rootTokenFile := filepath.Join(w.srv.Dir, "root-token")
	if b, err := os.ReadFile(rootTokenFile); err != nil || !strings.Contains(string(b), w.srv.Token) {
		t.Fatalf("the server's root token file: %v", err)
	}
	paths := fmt.Sprintf("[%q, %q, %q, %q]", rootTokenFile, dataFile, homeFile, "/proc/"+strconv.Itoa(os.Getpid())+"/environ")
	for _, name := range []string{"atk1", "atk2"} {
		// A leftover of an earlier failure must not fail this test.
		_ = os.Remove("/tmp/runcred-escaped-" + name)
		t.Cleanup(func() { _ = os.Remove("/tmp/runcred-escaped-" + name) })
	}
	var runs []*tfe.Run
	for _, name := range []string{"atk1", "atk2"} {
		ws := w.workspace(t, name, true, map[string]string{
			"hcl:paths": paths, "env:WS": name, "env:ROOT_TOKEN_FILE": rootTokenFile, "env:DATA_CANARY": dataFile,
			"env:HOME_CANARY": homeFile, "env:AGENT_PID": strconv.Itoa(os.Getpid()), "env:WORK_ROOT": w.workRoot,
			"env:DATA_DIR": w.srv.Dir, "env:HOME_DIR": home,
		})
		w.upload(t, ws, map[string]string{"main.tf": attackConfig})
		runs = append(runs, w.start(t, ws))
	}
	// Both applies wait in their local-exec until both are there: each
	// then looks for the other while it is alive.
	deadline := time.Now().Add(4 * time.Minute)
	runDir := map[string]string{} // workspace: its run directory's name
	for {
		m, _ := filepath.Glob(filepath.Join(w.workRoot, "runcred-run-*", "config", "waiting"))
		if len(m) == 2 {
			for _, f := range m {
				mine, err := os.ReadFile(filepath.Join(filepath.Dir(f), "mine"))
				if err != nil {
					t.Fatal(err)
				}
				ws := strings.Split(string(mine), "-")[2]
				runDir[ws] = filepath.Base(filepath.Dir(filepath.Dir(f)))
				if err := os.WriteFile(filepath.Join(filepath.Dir(f), "go"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("both applies never waited at once (%d waiting)", len(m))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var wg sync.WaitGroup
	logs := make([]string, len(runs))
	errs := make([]error, len(runs))
	for i, r := range runs {
		wg.Go(func() {
			r, err := w.await(t, r.ID, tfe.RunApplied)
			if err == nil {
				logs[i] = w.logs(t, r)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"atk1", "atk2"} {
		log := logs[i]
		for _, want := range []string{"PLANPROBE absent,absent,absent,absent", "APPLY-RAN " + name, "APPLY-DONE " + name,
			"WRITE-REFUSED data", "WRITE-REFUSED home", "PRIVATE-TMP-WRITE",
			"cat: " + rootTokenFile + ": No such file or directory", "cat: " + dataFile + ": No such file or directory",
			"cat: " + homeFile + ": No such file or directory", "cat: /proc/" + strconv.Itoa(os.Getpid()) + "/environ: No such file or directory",
			"peer-canary-" + name} {
			if !strings.Contains(log, want) {
				t.Errorf("%s's log lacks %q:\n%s", name, want, log)
			}
		}
		other := map[string]string{"atk1": "atk2", "atk2": "atk1"}[name]
		if runDir[other] == "" || !strings.Contains(log, runDir[name]) {
			t.Errorf("%s does not list its own run directory %q, or %s has none", name, runDir[name], other)
		}
		for _, leak := range []string{w.srv.Token, w.agentTok, envCanary, homeCanary, dataCanary, "peer-canary-" + other, runDir[other]} {
			if strings.Contains(log, leak) {
				t.Errorf("%s's log shows %q:\n%s", name, leak, log)
			}
		}
		for _, f := range []string{filepath.Join(w.srv.Dir, "escaped-"+name), filepath.Join(home, "escaped-"+name), "/tmp/runcred-escaped-" + name} {
			if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s wrote %s on the host (%v)", name, f, err)
			}
		}
	}
}

// TestRedactorKnowsAgentTokens: a run that learns the agent's token or the
// server's root token (here from a plain workspace variable) cannot print
// them: the log masks every token the agent's process holds.
func TestRedactorKnowsAgentTokens(t *testing.T) {
	w := newWorld(t, nil, nil)
	ws := w.workspace(t, "leak", true, map[string]string{"env:LEAK_AGENT": w.agentTok, "env:LEAK_ROOT": w.srv.Token})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {
  provisioner "local-exec" { command = "echo agent=$LEAK_AGENT; echo root=$LEAK_ROOT" }
}`})
	r := w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	log := w.logs(t, r)
	if !strings.Contains(log, "agent=***") || !strings.Contains(log, "root=***") {
		t.Errorf("the tokens were not masked:\n%s", log)
	}
	for _, tok := range []string{w.agentTok, w.srv.Token} {
		if strings.Contains(log, tok) {
			t.Errorf("log shows a token:\n%s", log)
		}
	}
}

// TestIsolationNoneWarns: an agent asked to run without isolation says so
// in every phase's log.
func TestIsolationNoneWarns(t *testing.T) {
	w := newWorld(t, nil, func(c *agent.Config) { c.Isolation = agent.IsolationNone })
	ws := w.workspace(t, "bare", true, nil)
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}`})
	r := w.wait(t, w.start(t, ws).ID, tfe.RunApplied)
	// w.logs is the plan's log, then the apply's.
	if log := w.logs(t, r); strings.Count(log, "runs phases without isolation (--isolation=none)") != 2 {
		t.Errorf("want the warning in the plan's and the apply's log:\n%s", log)
	}
}

// TestSandboxProbeFailureRefusesStart: an agent whose sandbox does not
// work does not start, and says what to do.
func TestSandboxProbeFailureRefusesStart(t *testing.T) {
	bin, mirror := tools.OpenTofu(t)
	fake := filepath.Join(t.TempDir(), "bwrap")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := agent.New(agent.Config{Server: "http://127.0.0.1:1", Token: secretOf("t"), Binary: bin, ProviderMirror: mirror, Bwrap: fake})
	if err == nil {
		t.Fatal("an agent without a working sandbox started")
	}
	for _, want := range []string{"setting up uid map: Permission denied", "--isolation=none", "bubblewrap"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := agent.New(agent.Config{Server: "http://127.0.0.1:1", Token: secretOf("t"), Binary: bin, Bwrap: fake, Isolation: agent.IsolationNone}); err != nil {
		t.Errorf("--isolation=none: %v", err)
	}
}
