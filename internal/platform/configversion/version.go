package configversion

import "time"

// Statuses, as in HCP Terraform.
const (
	Pending  = "pending"  // waiting for its archive
	Uploaded = "uploaded" // archive stored; runs may use it
)

// Version is an uploaded (or awaited) Terraform configuration.
type Version struct {
	ID            string
	WorkspaceID   string
	Status        string
	Speculative   bool // runs of it are plan-only
	AutoQueueRuns bool // an upload queues a run
	ArchiveSize   int64
	CreatedAt     time.Time
	UploadedAt    time.Time // zero until uploaded
	UploadToken   string    // signed upload token; only set on create, for its caller
}

// Options are the settable fields on create.
type Options struct {
	Speculative   *bool
	AutoQueueRuns *bool // default true, as in HCP Terraform
}

// archiveAAD binds a sealed archive to its configuration version.
func archiveAAD(cvID string) string { return "platform/configuration_versions/" + cvID }
