package state

import (
	"time"

	"github.com/runcred/runcred/internal/platform/resource"
)

// MaxSize bounds a stored state.
const MaxSize = 100 << 20

// Version is one Terraform state written by a run.
type Version struct {
	ID            string
	WorkspaceID   string
	RunID         string
	Serial        int64
	Lineage       string
	MD5           string // hex, of the state as stored
	Size          int64
	CreatedAt     time.Time
	DownloadToken string // signed token of the download URL
}

func versionsPath(org, ws string) string { return resource.WorkspacePath(org, ws) + "/state-versions" }

func stateAAD(id string) string { return "platform/state_versions/" + id }
