package platform

import (
	"regexp"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

var (
	// Environment variable names must survive `KEY=value` in an environment;
	// Terraform variable names may also hold '-'.
	envKeyRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	terraformKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// Limits on what users may store.
const (
	MaxKeyLen   = 128
	MaxValueLen = 256 << 10
	maxEmailLen = 254
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
