package runtrigger

import (
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Trigger queues a run in workspace WorkspaceID after each successful apply
// in workspace SourceableID, of the same organization.
type Trigger struct {
	ID             string
	Organization   string
	WorkspaceID    string
	WorkspaceName  string
	SourceableID   string
	SourceableName string
	CreatedAt      time.Time
}

// MaxSources is how many source workspaces one workspace may have, as in
// HCP Terraform.
const MaxSources = 20

// Direction chooses the triggers a list returns, as HCP Terraform's
// filter[run-trigger][type] does.
type Direction string

const (
	Inbound  Direction = "inbound"  // the workspace's own: its sources queue runs in it
	Outbound Direction = "outbound" // the workspace is the source: its applies queue runs elsewhere
)

// ValidDirection checks a list's direction; it has no default.
func ValidDirection(d Direction) error {
	if d != Inbound && d != Outbound {
		return fail.Invalidf("filter[run-trigger][type] must be %q or %q", Inbound, Outbound)
	}
	return nil
}

// TriggersPath is where a workspace's run triggers are managed: creating
// and deleting them is an administrator's (HCP Terraform's admin
// permission on the workspace); reading them a reader's.
func TriggersPath(org, ws string) string { return resource.WorkspacePath(org, ws) + "/run-triggers" }

// sourceRunsPath is what the caller must read on the source: its runs.
func sourceRunsPath(org, ws string) string { return resource.WorkspacePath(org, ws) + "/runs" }
