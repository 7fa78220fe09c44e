package platform

import (
	"crypto/rand"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/fail"
)

// Name rules mirror internal/identity's (claims.go), which does not export
// them: a workload-identity `sub` joins names with ':', so no name may hold
// one, or workspace "a:project:x" could impersonate another. Organization
// and workspace names are letters, digits, '-' and '_'; project names may
// also hold inner spaces ("Default Project"). None may hold '/', '*' or
// '+', so a name is always one segment of an authorization path.
var (
	orgOrWorkspaceRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	projectRe        = regexp.MustCompile(`^[A-Za-z0-9_-]([A-Za-z0-9 _-]*[A-Za-z0-9_-])?$`)
	// Environment variable names must survive `KEY=value` in an environment;
	// Terraform variable names may also hold '-'.
	envKeyRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	terraformKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	idRe           = regexp.MustCompile(`^[a-z]+-[A-Za-z0-9]{1,64}$`)
	versionRe      = regexp.MustCompile(`^[A-Za-z0-9.~<>=!, +-]*$`)
)

// Limits on what users may store.
const (
	MaxNameLen        = 90
	MaxKeyLen         = 128
	MaxDescriptionLen = 1024
	MaxValueLen       = 256 << 10
	maxPathLen        = 512
	maxVersionLen     = 64
	maxEmailLen       = 254
)

// ValidOrganizationName and ValidWorkspaceName check a name against
// runcred's rules; ValidProjectName likewise for projects.
func ValidOrganizationName(v string) error { return checkName("organization", v, orgOrWorkspaceRe) }
func ValidWorkspaceName(v string) error    { return checkName("workspace", v, orgOrWorkspaceRe) }
func ValidProjectName(v string) error      { return checkName("project", v, projectRe) }

func checkName(field, v string, re *regexp.Regexp) error {
	switch {
	case v == "":
		return fail.Invalidf("%s name is required", field)
	case len(v) > MaxNameLen:
		return fail.Invalidf("%s name is longer than %d characters", field, MaxNameLen)
	case !re.MatchString(v):
		if field == "project" {
			return fail.Invalidf("project name %q may hold only letters, digits, '-', '_' and inner spaces", clip(v))
		}
		return fail.Invalidf("%s name %q may hold only letters, digits, '-' and '_'", field, clip(v))
	}
	return nil
}

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
