package platform

import (
	"time"

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
