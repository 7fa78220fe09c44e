package organization

import (
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// DefaultProjectName is the project created with every organization.
const DefaultProjectName = "Default Project"

// Organization is a tenant. Its name is its API id; ID ("org-…") is what
// workload-identity tokens carry as terraform_organization_id.
type Organization struct {
	ID               string
	Name             string
	Email            string
	DefaultProjectID string
	// ManagedVariables says what happens when anyone but its manager
	// writes a variable another workspace manages: ManagedPolicy or
	// ManagedLocked.
	ManagedVariables string
	// OwnersTeamID is the organization's owners team (package team's),
	// made with it; "" for an organization that had a team named owners
	// before owners teams existed.
	OwnersTeamID string
	CreatedAt    time.Time
}

// The organization's managed-variables settings: a variable another
// workspace manages may be overwritten by others and the
// protected-variables policy stops the run (the default, as in the
// classic setup), or may not be written at all by anyone but that
// workspace's runs.
const (
	ManagedPolicy = "policy"
	ManagedLocked = "locked"
)

// Options are the settable fields of an organization; "" leaves one as it
// is.
type Options struct {
	Name             string
	Email            string
	ManagedVariables string
}

// Project groups workspaces within an organization.
type Project struct {
	ID           string
	Organization string // name
	Name         string
	Description  string
	CreatedAt    time.Time
}

// ProjectOptions are the settable fields of a project.
type ProjectOptions struct {
	Name        string
	Description string
}

// ProjectUpdate is a change to a project; nil leaves a field as it is.
type ProjectUpdate struct {
	Name        *string
	Description *string
}

const maxEmailLen = 254

func validEmail(e string) error {
	if e == "" || len(e) > maxEmailLen || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n") {
		return fail.Invalidf("a valid email address is required")
	}
	return nil
}
