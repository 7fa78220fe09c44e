package platform

import (
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// ExecutionAgent is the only execution mode runcred has: every run goes to an agent.
const ExecutionAgent = "agent"

// DefaultProjectName is the project created with every organization.
const DefaultProjectName = "Default Project"

// Variable categories, as in HCP Terraform.
const (
	CategoryTerraform = "terraform"
	CategoryEnv       = "env"
)

// Organization is a tenant. Its name is its API id; ID ("org-…") is what
// workload-identity tokens carry as terraform_organization_id.
type Organization struct {
	ID               string
	Name             string
	Email            string
	DefaultProjectID string
	CreatedAt        time.Time
}

// Project groups workspaces within an organization.
type Project struct {
	ID           string
	Organization string // name
	Name         string
	Description  string
	CreatedAt    time.Time
}

// Workspace is where runs happen.
type Workspace struct {
	ID               string
	Organization     string // name
	ProjectID        string
	Name             string
	Description      string
	AutoApply        bool
	ExecutionMode    string // always ExecutionAgent
	WorkingDirectory string
	TerraformVersion string
	AgentPoolID      string // "" when none: served by agents of the default pool
	LockedBy         string // "" when unlocked; else who locked it ("user:<accessor>", "team:<id>")
	LockReason       string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// WriterKind says what kind of principal last wrote a variable.
type WriterKind string

const (
	WriterUser WriterKind = "user"
	WriterTeam WriterKind = "team"
	WriterRun  WriterKind = "run"
)

// Caller metadata keys the daemon sets on tokens it issues to teams and to
// runs, from which a write's provenance is derived (see writerOf).
const (
	MetaTeamID      = "team_id"
	MetaRunID       = "run_id"
	MetaWorkspaceID = "workspace_id" // the workspace of the run in MetaRunID
)

// Writer is who made a change: a user (ID is the token accessor), a team
// token (ID is the team) or a run (ID is the run, WorkspaceID the workspace
// it ran in — typically a manager workspace writing another's variables).
type Writer struct {
	Kind        WriterKind `json:"kind"`
	ID          string     `json:"id"`
	Name        string     `json:"name,omitempty"`         // display name, for people; not for decisions
	WorkspaceID string     `json:"workspace_id,omitempty"` // set only for WriterRun
}

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
	WrittenBy           Writer
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
	WrittenBy           Writer
	ManagingWorkspaceID string
}

// Page selects a page of a list, numbered from 1.
type Page struct {
	Number int
	Size   int
}

// Page size limits, as in HCP Terraform.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	maxPageNumber   = 1 << 20
)

// Normalize applies the defaults and limits every list uses.
func (p Page) Normalize() Page {
	if p.Number < 1 {
		p.Number = 1
	}
	if p.Size < 1 {
		p.Size = DefaultPageSize
	}
	if p.Size > MaxPageSize {
		p.Size = MaxPageSize
	}
	if p.Number > maxPageNumber { // keeps the offset far from overflow
		p.Number = maxPageNumber
	}
	return p
}

func (p Page) offset() int { return (p.Number - 1) * p.Size }
