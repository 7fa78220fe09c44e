package platform

import (
	"crypto/rand"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

// Organization, project and workspace names follow internal/identity's
// rules: a workload-identity `sub` joins names with ':', so no name may hold
// one, and none may hold '/', '*' or '+', so a name is always one segment
// of an authorization path.
var (
	// Environment variable names must survive `KEY=value` in an environment;
	// Terraform variable names may also hold '-'.
	envKeyRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	terraformKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	idRe           = regexp.MustCompile(`^[a-z]+-[A-Za-z0-9]{1,64}$`)
	versionRe      = regexp.MustCompile(`^[A-Za-z0-9.~<>=!, +-]*$`)
)

// Limits on what users may store.
const (
	MaxNameLen        = identity.MaxNameLen
	MaxKeyLen         = 128
	MaxDescriptionLen = 1024
	MaxValueLen       = 256 << 10
	maxPathLen        = 512
	maxVersionLen     = 64
	maxEmailLen       = 254
)

// ValidOrganizationName, ValidWorkspaceName and ValidProjectName check a
// name against runcred's rules (internal/identity's).
var (
	ValidOrganizationName = identity.ValidOrganizationName
	ValidWorkspaceName    = identity.ValidWorkspaceName
	ValidProjectName      = identity.ValidProjectName
)

// validID checks an id of the given prefix ("ws", "var", …) before it is
// used in a query, so junk never reaches the database or an error message.
func validID(prefix, id string) bool {
	return strings.HasPrefix(id, prefix+"-") && idRe.MatchString(id)
}

func validVariableKey(category, key string) error {
	re := terraformKeyRe
	if category == CategoryEnv {
		re = envKeyRe
	}
	switch {
	case key == "":
		return fail.Invalidf("variable key is required")
	case len(key) > MaxKeyLen:
		return fail.Invalidf("variable key is longer than %d characters", MaxKeyLen)
	case !re.MatchString(key):
		if category == CategoryEnv {
			return fail.Invalidf("environment variable key %q must be a letter or '_' followed by letters, digits and '_'", clip(key))
		}
		return fail.Invalidf("terraform variable key %q must be a letter or '_' followed by letters, digits, '-' and '_'", clip(key))
	}
	return nil
}

func validCategory(c string) error {
	if c != CategoryTerraform && c != CategoryEnv {
		return fail.Invalidf("category must be %q or %q, got %q", CategoryTerraform, CategoryEnv, clip(c))
	}
	return nil
}

func validDescription(d string) error {
	if len(d) > MaxDescriptionLen || !utf8.ValidString(d) {
		return fail.Invalidf("description must be valid UTF-8 of at most %d bytes", MaxDescriptionLen)
	}
	return nil
}

func validEmail(e string) error {
	if e == "" || len(e) > maxEmailLen || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n") {
		return fail.Invalidf("a valid email address is required")
	}
	return nil
}

// validWorkingDirectory accepts a relative path that stays inside the
// configuration: the agent changes into it, so it must not climb out.
func validWorkingDirectory(d string) error {
	if d == "" {
		return nil
	}
	bad := len(d) > maxPathLen || !utf8.ValidString(d) || strings.ContainsAny(d, "\x00\\") ||
		strings.HasPrefix(d, "/") || path.Clean(d) == ".." || strings.HasPrefix(path.Clean(d), "../")
	if bad {
		return fail.Invalidf("working directory must be a relative path inside the configuration")
	}
	return nil
}

func validTerraformVersion(v string) error {
	if len(v) > maxVersionLen || !versionRe.MatchString(v) {
		return fail.Invalidf("terraform version %q is not a version or version constraint", clip(v))
	}
	return nil
}

func validExecutionMode(m string) error {
	if m != "" && m != ExecutionAgent {
		return fail.Invalidf("execution mode must be %q: runcred runs every workspace on agents", ExecutionAgent)
	}
	return nil
}

func validAgentPoolID(id string) error {
	if id != "" && !validID("apool", id) {
		return fail.Invalidf("agent pool id must look like apool-<letters and digits>")
	}
	return nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns prefix-<16 random letters and digits>, as HCP Terraform's
// ids look (~95 bits).
func newID(prefix string) string {
	const n = 16
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics instead)
		for _, b := range buf {
			// 248 = 4*62: rejecting above it keeps every letter equally likely.
			if b < 248 && len(out) < n {
				out = append(out, idAlphabet[b%62])
			}
		}
	}
	return prefix + "-" + string(out)
}

// clip keeps error messages short and printable when echoing bad input.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "?")
	}
	return s
}
