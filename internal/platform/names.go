package platform

import (
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

var (
	// Environment variable names must survive `KEY=value` in an environment;
	// Terraform variable names may also hold '-'.
	envKeyRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	terraformKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	versionRe      = regexp.MustCompile(`^[A-Za-z0-9.~<>=!, +-]*$`)
)

// Limits on what users may store.
const (
	MaxKeyLen     = 128
	MaxValueLen   = 256 << 10
	maxPathLen    = 512
	maxVersionLen = 64
	maxEmailLen   = 254
)

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
			return fail.Invalidf("environment variable key %q must be a letter or '_' followed by letters, digits and '_'", resource.Clip(key))
		}
		return fail.Invalidf("terraform variable key %q must be a letter or '_' followed by letters, digits, '-' and '_'", resource.Clip(key))
	}
	return nil
}

func validCategory(c string) error {
	if c != CategoryTerraform && c != CategoryEnv {
		return fail.Invalidf("category must be %q or %q, got %q", CategoryTerraform, CategoryEnv, resource.Clip(c))
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
		return fail.Invalidf("terraform version %q is not a version or version constraint", resource.Clip(v))
	}
	return nil
}

func validExecutionMode(m string) error {
	if m != "" && m != ExecutionAgent {
		return fail.Invalidf("execution mode must be %q: runcred runs every workspace on agents", ExecutionAgent)
	}
	return nil
}
