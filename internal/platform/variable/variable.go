package variable

import (
	"regexp"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/secret"
)

// Variable categories, as in HCP Terraform.
const (
	CategoryTerraform = "terraform"
	CategoryEnv       = "env"
)

// Variable is a workspace variable's metadata, and its value unless sensitive.
type Variable struct {
	ID          string
	WorkspaceID string
	Key         string
	Value       string // always "" for sensitive variables
	Description string
	Category    string // CategoryTerraform or CategoryEnv
	HCL         bool
	Sensitive   bool
	VersionID   string // changes on every write

	// Provenance: who last wrote the variable and when, and the workspace
	// that manages it ("" = none). Policy checks fail a run whose managed
	// variable was last written by anything but a run of its manager.
	WrittenBy           resource.Writer
	WrittenAt           time.Time
	ManagingWorkspaceID string

	CreatedAt time.Time
}

// RunVariable is a variable as a run receives it: with its value, sensitive
// or not, and with the provenance policy checks need.
type RunVariable struct {
	ID                  string
	Key                 string
	Value               secret.Value
	Category            string
	HCL                 bool
	Sensitive           bool
	WrittenBy           resource.Writer
	ManagingWorkspaceID string
}

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
			return fail.Invalidf("environment variable key %q must be a letter or '_' followed by letters, digits and '_'", fail.Clip(key))
		}
		return fail.Invalidf("terraform variable key %q must be a letter or '_' followed by letters, digits, '-' and '_'", fail.Clip(key))
	}
	return nil
}

func validCategory(c string) error {
	if c != CategoryTerraform && c != CategoryEnv {
		return fail.Invalidf("category must be %q or %q, got %q", CategoryTerraform, CategoryEnv, fail.Clip(c))
	}
	return nil
}
