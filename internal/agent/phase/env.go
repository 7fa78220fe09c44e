package phase

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/runcred/runcred/internal/runenv"
)

// defaultPath is the search path of a child when Spec.Env names none; the
// agent's own PATH is never inherited.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// owned are the variables the phase sets itself. Neither the workspace nor a
// hook may override them: they keep the run inside its directory and its
// provider installation on the mirror.
var owned = map[string]bool{
	"HOME":                true,
	"TF_CLI_CONFIG_FILE":  true,
	"TF_IN_AUTOMATION":    true,
	"TF_INPUT":            true,
	"TF_PLUGIN_CACHE_DIR": true,
	"CHECKPOINT_DISABLE":  true,
	"TFC_AGENT_ENV":       true,
}

// validName reports whether s is a portable environment variable name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkEnv(env map[string]string) error {
	for k, v := range env {
		if !validName(k) {
			return fmt.Errorf("invalid environment variable name %q", k)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("environment variable %s contains a NUL byte", k)
		}
	}
	return nil
}

// allowed returns env without the variables a run may not have (see
// runenv.Check), and tells log each one it removed, by name and reason
// only: the value may be a credential. The platform refuses them when they
// are written; they still arrive from rows written before that rule.
func allowed(env map[string]string, log func(string)) map[string]string {
	out := make(map[string]string, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if err := runenv.Check(k, env[k]); err != nil {
			log("runcred: removed from the run's environment: " + err.Error())
			continue
		}
		out[k] = env[k]
	}
	return out
}

// environ builds a child's environment: base (Spec.Env), then extra (values
// exported by a pre hook), then the phase's own variables, which win. The
// result is sorted so runs are reproducible. A variable a run may not have
// is dropped here too, whatever its source: Run and the $TFC_AGENT_ENV
// reader have already said so in the log.
func environ(base, extra, own map[string]string) []string {
	m := make(map[string]string, len(base)+len(extra)+len(own)+1)
	for k, v := range base {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	for k, v := range m {
		if runenv.Check(k, v) != nil {
			delete(m, k)
		}
	}
	if _, ok := m["PATH"]; !ok {
		m["PATH"] = defaultPath
	}
	for k, v := range own {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// maxAgentEnv caps the $TFC_AGENT_ENV file a hook may write.
const maxAgentEnv = 1 << 20

// parseAgentEnv reads the KEY=value lines a hook appended to $TFC_AGENT_ENV.
// Blank lines and # comments are skipped. A malformed line or one naming a
// variable the phase owns is ignored, and reported through warn by line
// number only: its content may be a credential.
func parseAgentEnv(r io.Reader, warn func(string)) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAgentEnv+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAgentEnv {
		return nil, fmt.Errorf("$TFC_AGENT_ENV is larger than %d bytes", maxAgentEnv)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxAgentEnv+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok || !validName(k):
			warn(fmt.Sprintf("ignoring line %d of $TFC_AGENT_ENV: not NAME=value", n))
		case owned[k]:
			warn(fmt.Sprintf("ignoring line %d of $TFC_AGENT_ENV: %s is set by the agent", n, k))
		case strings.IndexByte(v, 0) >= 0:
			warn(fmt.Sprintf("ignoring line %d of $TFC_AGENT_ENV: value contains a NUL byte", n))
		case runenv.Check(k, v) != nil:
			warn(fmt.Sprintf("ignoring line %d of $TFC_AGENT_ENV: %v", n, runenv.Check(k, v)))
		default:
			out[k] = v
		}
	}
	return out, sc.Err()
}

// readAgentEnv parses the file at path (see parseAgentEnv).
func readAgentEnv(path string, warn func(string)) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseAgentEnv(f, warn)
}
