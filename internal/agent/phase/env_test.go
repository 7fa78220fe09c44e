package phase

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/runenv"
)

func TestParseAgentEnv(t *testing.T) {
	in := "A=1\r\n\n# comment\nB=x=y\n=nothing\n1BAD=2\nBAD NAME=3\nHOME=/x\nTFC_AGENT_ENV=/y\nC=\nA=2\nnoequals\nD=a\x00b\nTF_LOG_PATH=/tmp/x\nLD_PRELOAD=secret-value\nTF_LOG_PATH=ok.log\n"
	var warns []string
	got, err := parseAgentEnv(strings.NewReader(in), func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "2", "B": "x=y", "C": "", "TF_LOG_PATH": "ok.log"}
	if !maps.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	wantWarns := []string{
		"ignoring line 5 of $TFC_AGENT_ENV: not NAME=value",
		"ignoring line 6 of $TFC_AGENT_ENV: not NAME=value",
		"ignoring line 7 of $TFC_AGENT_ENV: not NAME=value",
		"ignoring line 8 of $TFC_AGENT_ENV: HOME is set by the agent",
		"ignoring line 9 of $TFC_AGENT_ENV: TFC_AGENT_ENV is set by the agent",
		"ignoring line 12 of $TFC_AGENT_ENV: not NAME=value",
		"ignoring line 13 of $TFC_AGENT_ENV: value contains a NUL byte",
		"ignoring line 14 of $TFC_AGENT_ENV: environment variable TF_LOG_PATH is not allowed in a run: it must be a relative path inside the run directory (not absolute, no ..)",
		"ignoring line 15 of $TFC_AGENT_ENV: environment variable LD_PRELOAD is not allowed in a run: the dynamic linker's variables (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT…) load code or write files outside the run directory",
	}
	if !slices.Equal(warns, wantWarns) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warns, "\n"), strings.Join(wantWarns, "\n"))
	}
}

func TestParseAgentEnvTooLarge(t *testing.T) {
	_, err := parseAgentEnv(strings.NewReader("A="+strings.Repeat("x", maxAgentEnv)), func(string) {})
	if err == nil {
		t.Fatal("oversized $TFC_AGENT_ENV accepted")
	}
}

func TestEnvironPrecedence(t *testing.T) {
	got := environ(
		map[string]string{"A": "base", "B": "base", "HOME": "base", "TF_PLUGIN_CACHE_DIR": "/c"},
		map[string]string{"B": "hook"},
		map[string]string{"HOME": "/run"},
	)
	want := []string{"A=base", "B=hook", "HOME=/run", "PATH=" + defaultPath}
	if !slices.Equal(got, want) {
		t.Errorf("environ = %q, want %q", got, want)
	}
	// Whatever reaches it, a variable a run may not have is dropped.
	got = environ(map[string]string{"PATH": "/opt/bin", "TF_CLI_ARGS_plan": "-var-file=/etc/passwd"}, map[string]string{"LD_PRELOAD": "x.so"}, nil)
	if !slices.Equal(got, []string{"PATH=" + defaultPath}) {
		t.Errorf("environ kept a refused variable: %q", got)
	}
}

// TestAllowed: Spec.Env loses every variable a run may not have, and the
// log says which, by name, never by value.
func TestAllowed(t *testing.T) {
	var log []string
	got := allowed(map[string]string{"A": "1", "TF_LOG_PATH": "/tmp/canary-value", "TF_CLI_ARGS_plan": "-var-file=/etc/canary-value", "TF_LOG": "TRACE"},
		func(s string) { log = append(log, s) })
	if !maps.Equal(got, map[string]string{"A": "1", "TF_LOG": "TRACE"}) {
		t.Errorf("allowed = %q", got)
	}
	if len(log) != 2 || !strings.Contains(log[0], "TF_CLI_ARGS_plan") || !strings.Contains(log[1], "TF_LOG_PATH") {
		t.Errorf("log = %q", log)
	}
	for _, l := range log {
		if strings.Contains(l, "canary-value") {
			t.Errorf("the log shows a value: %q", l)
		}
	}
}

// FuzzParseAgentEnv: whatever a hook writes, only valid, unowned names
// without NUL bytes come out.
func FuzzParseAgentEnv(f *testing.F) {
	f.Add("A=1\nHOME=/x\n# c\nB=x=y\r\n")
	f.Add("=\n\x00=\nA\x00=b\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseAgentEnv(strings.NewReader(in), func(string) {})
		if err != nil {
			return
		}
		for k, v := range got {
			if !validName(k) || owned[k] || runenv.Check(k, v) != nil || strings.IndexByte(v, 0) >= 0 || strings.ContainsAny(v, "\n") {
				t.Fatalf("accepted %q=%q", k, v)
			}
		}
	})
}
