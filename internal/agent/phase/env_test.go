package phase

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseAgentEnv(t *testing.T) {
	in := "A=1\r\n\n# comment\nB=x=y\n=nothing\n1BAD=2\nBAD NAME=3\nHOME=/x\nTFC_AGENT_ENV=/y\nC=\nA=2\nnoequals\nD=a\x00b\n"
	var warns []string
	got, err := parseAgentEnv(strings.NewReader(in), func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "2", "B": "x=y", "C": ""}
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
	if got := environ(map[string]string{"PATH": "/opt/bin"}, nil, nil); !slices.Equal(got, []string{"PATH=/opt/bin"}) {
		t.Errorf("environ kept no PATH of the workspace: %q", got)
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
			if !validName(k) || owned[k] || strings.IndexByte(v, 0) >= 0 || strings.ContainsAny(v, "\n") {
				t.Fatalf("accepted %q=%q", k, v)
			}
		}
	})
}
