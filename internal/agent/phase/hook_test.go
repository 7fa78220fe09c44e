package phase

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/secret"
)

// hooks writes executable shell hooks into a fresh directory.
func hooks(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// waitLine reads lines until want arrives. The deadline only turns a hang
// into a failure; nothing is asserted about durations.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-lines:
			if l == want {
				return
			}
		case <-deadline:
			t.Fatalf("line %q never arrived", want)
		}
	}
}

// hookOnly is a spec whose phase never gets past its hooks: OpenTofu is
// /bin/false, so these tests need no tools.
func hookOnly(t *testing.T, ph jobapi.Phase, scripts map[string]string, l *logs) Spec {
	return Spec{
		Phase: ph, Binary: "/bin/false", ConfigDir: filepath.Join("testdata", "basic"),
		PlanFile: []byte("not used"),
		Env:      map[string]string{},
		HooksDir: hooks(t, scripts),
		Log:      l.add,
	}
}

func TestOutputStreamsWhileHookRuns(t *testing.T) {
	tmpRoot(t)
	gate := filepath.Join(t.TempDir(), "go")
	lines := make(chan string, 64)
	s := Spec{
		Phase: jobapi.Plan, Binary: "/bin/false", ConfigDir: filepath.Join("testdata", "basic"),
		Env: map[string]string{"GATE": gate},
		// The hook cannot finish before the test has seen its first line
		// and opened the gate; it gives up after a minute, so a test
		// killed meanwhile (a timeout, a mutation run) leaves no hook
		// waiting for ever.
		HooksDir: hooks(t, map[string]string{"terraform-pre-plan": `echo first
i=0
while [ ! -e "$GATE" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
echo second`}),
		Log: func(l string) { lines <- l },
	}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = Run(context.Background(), s) }()
	waitLine(t, lines, "first")
	select {
	case <-done:
		t.Fatal("phase ended before the gate opened")
	default:
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "second")
	<-done
}

func TestFailingPreApplyFailsPhase(t *testing.T) {
	tmp := tmpRoot(t)
	marker := filepath.Join(t.TempDir(), "post-apply-ran")
	var l logs
	s := hookOnly(t, jobapi.Apply, map[string]string{
		"terraform-pre-apply":  "echo checking; exit 3",
		"terraform-post-apply": `touch "$MARKER"`,
	}, &l)
	s.Env["MARKER"] = marker
	_, err := Run(context.Background(), s)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "terraform-pre-apply" || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v, want the pre-apply hook's failure", err)
	}
	if !l.has("checking") {
		t.Error("failing hook's output not logged")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("post-apply hook did not run after the failure: %v", err)
	}
	assertEmpty(t, tmp)
}

func TestFailingPostHookFailsPhase(t *testing.T) {
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-post-plan": "exit 4"}, &l)
	_, err := Run(context.Background(), s)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "init" {
		t.Fatalf("err = %v, want init (/bin/false) to fail first", err)
	}
	if !strings.Contains(err.Error(), "phase step terraform-post-plan: hook terraform-post-plan failed: exit status 4") {
		t.Errorf("err = %v, want the post hook's failure too", err)
	}
}

func TestHookTimeout(t *testing.T) {
	for _, key := range []string{
		"TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT",
		"TFC_AGENT_HOOK_TERRAFORM_PRE_PLAN_TIMEOUT",
		"TFC_AGENT_HOOK_TIMEOUT",
	} {
		t.Run(key, func(t *testing.T) {
			tmp := tmpRoot(t)
			var l logs
			s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-pre-plan": "echo started; sleep 30; echo finished"}, &l)
			s.Env[key] = "1"
			_, err := Run(context.Background(), s)
			var se *StepError
			if !errors.As(err, &se) || se.Step != "terraform-pre-plan" || !strings.Contains(err.Error(), "timed out after 1s") {
				t.Fatalf("err = %v, want the hook timed out", err)
			}
			if !l.has("started") || l.has("finished") {
				t.Errorf("log = %q", l.all())
			}
			assertEmpty(t, tmp)
		})
	}
}

func TestHookTimeoutSetting(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want time.Duration
		err  bool
	}{
		{nil, DefaultHookTimeout, false},
		{map[string]string{"TFC_AGENT_HOOK_TIMEOUT": "90"}, 90 * time.Second, false},
		{map[string]string{"TFC_AGENT_HOOK_TIMEOUT": "90", "TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT": "5"}, 5 * time.Second, false},
		{map[string]string{"TFC_AGENT_HOOK_TERRAFORM_PRE_PLAN_TIMEOUT": "7"}, 7 * time.Second, false},
		{map[string]string{"TFC_AGENT_HOOK_PRE_APPLY_TIMEOUT": "5"}, DefaultHookTimeout, false}, // another hook's
		{map[string]string{"TFC_AGENT_HOOK_TIMEOUT": "100000"}, MaxHookTimeout, false},
		{map[string]string{"TFC_AGENT_HOOK_TIMEOUT": "0"}, 0, true},
		{map[string]string{"TFC_AGENT_HOOK_TIMEOUT": "-3"}, 0, true},
		{map[string]string{"TFC_AGENT_HOOK_PRE_PLAN_TIMEOUT": "1m"}, 0, true},
	}
	for _, tt := range tests {
		got, err := hookTimeout(tt.env, "terraform-pre-plan")
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("hookTimeout(%v) = %v, %v; want %v, err %v", tt.env, got, err, tt.want, tt.err)
		}
	}
}

func TestHookSeesOnlyPhaseEnvironment(t *testing.T) {
	tmp := tmpRoot(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "ambient-aws-secret")
	t.Setenv("VAULT_TOKEN", "ambient-vault-token")
	t.Setenv("TF_CLI_CONFIG_FILE", "/nonexistent/ambient.tfrc")
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-pre-plan": "env; exit 1"}, &l)
	s.Env = map[string]string{
		"TFC_RUN_ID":          "run-123",
		"HOME":                "/workspace/chose/this",
		"TF_PLUGIN_CACHE_DIR": "/shared/cache",
	}
	if _, err := Run(context.Background(), s); err == nil {
		t.Fatal("the hook's exit 1 did not fail the phase")
	}
	env := map[string]string{}
	for _, line := range l.all() {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN", "TF_PLUGIN_CACHE_DIR"} {
		if v, ok := env[k]; ok {
			t.Errorf("hook saw %s=%s", k, v)
		}
	}
	if env["TFC_RUN_ID"] != "run-123" || env["PATH"] != defaultPath || env["TF_IN_AUTOMATION"] != "1" || env["TF_INPUT"] != "0" {
		t.Errorf("hook environment: %v", env)
	}
	home := env["HOME"]
	if filepath.Dir(home) != tmp {
		t.Errorf("HOME = %q, want the run directory under %s", home, tmp)
	}
	if env["TF_CLI_CONFIG_FILE"] != filepath.Join(home, "cli.tfrc") || env["TFC_AGENT_ENV"] != filepath.Join(home, "agent-env") {
		t.Errorf("hook environment: %v", env)
	}
}

func TestHookOutputRedacted(t *testing.T) {
	const token = "hvs.AbCdEf0123456789"
	exported := "exported-credential-42"
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{
		"terraform-pre-plan": `echo "token=$VAULT_TOKEN b64=$(printf %s "$VAULT_TOKEN" | base64)"
echo "AWS_SECRET_ACCESS_KEY=` + exported + `" >> "$TFC_AGENT_ENV"`,
		// Values a pre hook exported are secrets for the rest of the phase.
		"terraform-post-plan": `echo "post: ` + exported + `"`,
	}, &l)
	s.Env["VAULT_TOKEN"] = token
	s.Secrets = []secret.Value{secret.FromString(token)}
	_, _ = Run(context.Background(), s)
	if !l.has("token=*** b64=***") || !l.has("post: ***") {
		t.Errorf("log = %q", l.all())
	}
	l.noneContain(t, token, base64.StdEncoding.EncodeToString([]byte(token)), exported)
}

func TestUnusableHookFailsPhase(t *testing.T) {
	for name, mode := range map[string]os.FileMode{"not executable": 0o644, "directory": os.ModeDir | 0o755} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "terraform-pre-plan")
			var err error
			if mode.IsDir() {
				err = os.Mkdir(p, 0o755)
			} else {
				err = os.WriteFile(p, []byte("#!/bin/sh\n"), mode)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), Spec{Phase: jobapi.Plan, Binary: "/bin/false", ConfigDir: "testdata/basic", HooksDir: dir})
			var se *StepError
			if !errors.As(err, &se) || se.Step != "terraform-pre-plan" {
				t.Fatalf("err = %v, want the hook refused", err)
			}
		})
	}
}

// TestPhaseTimeLimit: a phase past Spec.Timeout stops, whatever step it is
// in, with an error that names the limit.
func TestPhaseTimeLimit(t *testing.T) {
	tmp := tmpRoot(t)
	var l logs
	s := hookOnly(t, jobapi.Plan, map[string]string{"terraform-pre-plan": "echo started; sleep 30; echo finished"}, &l)
	s.Timeout = time.Second
	_, err := Run(context.Background(), s)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "terraform-pre-plan" || !strings.Contains(err.Error(), "ran past its time limit of 1s") {
		t.Fatalf("err = %v, want the phase's time limit", err)
	}
	if !l.has("started") || l.has("finished") {
		t.Errorf("log = %q", l.all())
	}
	assertEmpty(t, tmp)
}
