// Package runenv decides which environment variables a run may not have:
// those that re-point OpenTofu, Terraform, the dynamic linker or the shell
// at files outside the run directory. The platform refuses them when a
// variable is written; the agent strips them if they arrive anyway (a row
// written before the rule, a hook's $TFC_AGENT_ENV). Both use Check, so the
// two edges hold one list.
//
// It is defence in depth: a run's own code can do anything its sandbox
// allows; the list turns a silent leak through a variable into a clear
// error at the moment the variable is written.
package runenv

import (
	"errors"
	"fmt"
	"strings"
)

// refused are variables no run may set, and why.
var refused = map[string]string{
	"PATH":                  "the agent sets the search path; a workspace may not re-point it",
	"HOME":                  "the agent sets HOME to the run directory",
	"TMPDIR":                "temporary files stay in the run's own temporary directory",
	"TF_CLI_CONFIG_FILE":    "the agent writes the CLI configuration (provider installation, credentials)",
	"TERRAFORM_CONFIG":      "the legacy name of TF_CLI_CONFIG_FILE",
	"TF_PLUGIN_CACHE_DIR":   "the provider cache is the agent's; a run may not read or fill another directory",
	"TF_DATA_DIR":           "the working data directory stays in the run directory, where the agent expects it",
	"TF_REATTACH_PROVIDERS": "it makes OpenTofu talk to already-running provider processes of the host",
	"BASH_ENV":              "it makes every non-interactive bash source a file of the host",
	"ENV":                   "it makes an interactive shell source a file of the host",
	// The variables glibc ignores for set-user-ID programs (its
	// UNSECURE_ENVVARS), for the same reason: each loads code or reads or
	// writes a file named by the environment. LD_* is a prefix, below.
	"GCONV_PATH":       "it makes glibc load character-set modules from another directory",
	"GETCONF_DIR":      "it re-points glibc's getconf at another directory",
	"HOSTALIASES":      "it makes the resolver read a file of the host",
	"LOCALDOMAIN":      "it re-points the resolver",
	"LOCPATH":          "it makes glibc load locales from another directory",
	"MALLOC_TRACE":     "it makes glibc write a file anywhere",
	"NIS_PATH":         "it re-points glibc's NIS lookups",
	"NLSPATH":          "it makes programs read message catalogues from another directory",
	"RESOLV_HOST_CONF": "it makes the resolver read a file of the host",
	"RES_OPTIONS":      "it re-points the resolver",
	"TZDIR":            "it makes glibc read time zone files from another directory",
}

// refusedPrefixes are families of variables no run may set, and why.
var refusedPrefixes = []struct{ prefix, why string }{
	{"LD_", "the dynamic linker's variables (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT…) load code or write files outside the run directory"},
	{"XDG_", "the XDG base directories re-point where OpenTofu looks for plugins and configuration"},
}

// pathValued are variables that name a file OpenTofu writes: allowed only
// as a relative path inside the run directory.
var pathValued = map[string]bool{
	"TF_LOG_PATH":      true,
	"TF_TEMP_LOG_PATH": true,
}

// Check returns nil if a run may have variable name with value, or an
// error saying why not. The error names the variable, never its value,
// which may be a secret.
func Check(name, value string) error {
	if why, ok := refused[name]; ok {
		return &Refusal{Name: name, Why: why}
	}
	for _, p := range refusedPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return &Refusal{Name: name, Why: p.why}
		}
	}
	switch {
	case pathValued[name]:
		if !insideRunDir(value) {
			return &Refusal{Name: name, Why: "it must be a relative path inside the run directory (not absolute, no ..)"}
		}
	case name == "TF_CLI_ARGS" || strings.HasPrefix(name, "TF_CLI_ARGS_"):
		if err := checkArgs(value); err != nil {
			return &Refusal{Name: name, Why: err.Error()}
		}
	}
	return nil
}

// Refusal is why a run may not have a variable.
type Refusal struct {
	Name string
	Why  string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("environment variable %s is not allowed in a run: %s", r.Name, r.Why)
}

// insideRunDir reports whether p, a path relative to a directory of the
// run, stays inside the run directory: not absolute, no ~, no ".."
// segment. The empty value is OpenTofu's "unset".
func insideRunDir(p string) bool {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") || strings.ContainsRune(p, 0) {
		return false
	}
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return false
		}
	}
	return true
}

// checkArgs refuses TF_CLI_ARGS values with any word, or any part of a
// word between '=' signs, that names a path outside the run directory:
// -var-file=/etc/passwd, -state-out=../x, -backend-config=path=/tmp/s, or
// a path given as the next word (-out /tmp/plan). It looks at every word
// rather than a list of options so a new option that takes a file is
// covered too. The words are read two ways, as OpenTofu splits them (shell
// quoting, see Split) and with every quote and backslash removed, so a
// quirk of the splitter cannot hide a path from one of the two readings.
func checkArgs(v string) error {
	words, err := Split(v)
	if err != nil {
		return errors.New("its options cannot be parsed: " + err.Error())
	}
	bare := strings.Map(func(r rune) rune {
		switch r {
		case '"', '\'', '\\', '`':
			return -1
		}
		return r
	}, v)
	for _, w := range append(words, strings.Fields(bare)...) {
		for _, part := range strings.Split(w, "=") {
			if !insideRunDir(strings.TrimSpace(part)) {
				return errors.New("its options may name only relative paths inside the run directory (not absolute, no .., no ~)")
			}
		}
	}
	return nil
}
