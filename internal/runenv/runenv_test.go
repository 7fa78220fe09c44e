package runenv

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"AWS_REGION", "us-east-1", true},
		{"TF_LOG", "TRACE", true},
		{"TF_VAR_path", "/etc/passwd", true}, // a value for the configuration, not a pointer for the toolchain
		{"TF_LOG_PATH", "tofu.log", true},
		{"TF_LOG_PATH", "logs/tofu.log", true},
		{"TF_LOG_PATH", "", true},
		{"TF_LOG_PATH", "/tmp/x", false},
		{"TF_LOG_PATH", "../x", false},
		{"TF_LOG_PATH", "logs/../../x", false},
		{"TF_LOG_PATH", "~/x", false},
		{"TF_TEMP_LOG_PATH", "/tmp/panic.log", false},
		{"TF_CLI_ARGS", "-no-color", true},
		{"TF_CLI_ARGS_plan", "-var-file=prod.tfvars -target=module.a -var=region=us-east-1", true},
		{"TF_CLI_ARGS_plan", "-var-file=/etc/passwd", false},
		{"TF_CLI_ARGS_plan", "-var-file /etc/passwd", false},
		{"TF_CLI_ARGS_plan", `-var-file="/etc/passwd"`, false},
		{"TF_CLI_ARGS_plan", `-var-file='/etc/passwd'`, false},
		{"TF_CLI_ARGS_plan", `-var-file=\/etc/passwd`, false},
		{"TF_CLI_ARGS_plan", `-var-file=/e"t"c/passwd`, false},
		{"TF_CLI_ARGS_plan", `--var-file=../../secret.tfvars`, false},
		{"TF_CLI_ARGS_init", "-backend-config=path=/tmp/state", false},
		{"TF_CLI_ARGS_init", "-plugin-dir=/usr/share", false},
		{"TF_CLI_ARGS_init", "-from-module=/etc", false},
		{"TF_CLI_ARGS_apply", "-state-out=../s", false},
		{"TF_CLI_ARGS_plan", "-out=~/p", false},
		{"TF_CLI_ARGS_plan", `-var-file="unterminated`, false},
		{"TF_CLI_ARGS", "-chdir=/", false},
		{"PATH", "/usr/bin", false},
		{"LD_PRELOAD", "x.so", false},
		{"LD_LIBRARY_PATH", "", false},
		{"LD_AUDIT", "a", false},
		{"HOME", "/root", false},
		{"TF_DATA_DIR", ".tf", false},
		{"TF_PLUGIN_CACHE_DIR", "/var/cache", false},
		{"TF_CLI_CONFIG_FILE", "x", false},
		{"TERRAFORM_CONFIG", "x", false},
		{"TF_REATTACH_PROVIDERS", "{}", false},
		{"XDG_DATA_HOME", "/x", false},
		{"GCONV_PATH", "/x", false},
		{"TMPDIR", "/tmp", false},
	} {
		err := Check(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%s, %q) = %v, want ok %v", tc.name, tc.value, err, tc.ok)
			continue
		}
		if err == nil {
			continue
		}
		var r *Refusal
		if !errors.As(err, &r) || r.Name != tc.name || r.Why == "" {
			t.Errorf("Check(%s) = %#v, want a Refusal naming it", tc.name, err)
		}
		if tc.value != "" && len(tc.value) > 3 && strings.Contains(err.Error(), tc.value) {
			t.Errorf("Check(%s) echoes the value: %v", tc.name, err)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"  -a  -b=c ", []string{"-a", "-b=c"}, false},
		{`-var 'x=a b'`, []string{"-var", "x=a b"}, false},
		{`-var "x=\"q\""`, []string{"-var", `x="q"`}, false},
		{`a\ b`, []string{"a b"}, false},
		{`'a\b'`, []string{`a\b`}, false},
		{"a;b|c", []string{"a;b|c"}, false},
		{`"a`, nil, true},
		{`a\`, nil, true},
	} {
		got, err := Split(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if _, err := Split(strings.Repeat("a ", MaxArgs+1)); err == nil {
		t.Error("Split took more than MaxArgs words")
	}
}

// FuzzCLIArgs holds the TF_CLI_ARGS check against its own splitter: a value
// Check accepts has no word, nor part of one between '=' signs, that leaves
// the run directory.
func FuzzCLIArgs(f *testing.F) {
	for _, s := range []string{"-var-file=a.tfvars", `-var-file="/etc/passwd"`, `-out '../p'`, `a\ b "c d" 'e'`, "-backend-config=path=/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, serr := Split(s)
		err := Check("TF_CLI_ARGS_plan", s)
		if serr != nil {
			if err == nil {
				t.Fatalf("%q does not split (%v) but is accepted", s, serr)
			}
			return
		}
		if err != nil {
			return
		}
		for _, w := range words {
			for _, p := range strings.Split(w, "=") {
				if !insideRunDir(strings.TrimSpace(p)) {
					t.Fatalf("%q accepted though word %q names a path outside", s, w)
				}
			}
		}
	})
}
