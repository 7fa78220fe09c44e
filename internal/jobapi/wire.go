// Package jobapi is the protocol between runcred's server and its agents
// (the wire types and the agent's client; internal/jobserver serves it),
// under /api/runcred/v1/agent: an agent claims a run phase with its agent
// token and receives a job token that names that phase alone; with it, it
// reads the phase's inputs, mints the phase's workload-identity tokens
// (whose subject the server derives from the run), streams the log, stores
// what the phase produced and finishes it. With the job token comes the
// phase's run token, for the run's own use of runcred's API. The server
// revokes both when the phase ends.
package jobapi

import (
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// Prefix is where the protocol is served.
const Prefix = "/api/runcred/v1/agent"

// DefaultPool is the pool name of workspaces that have no agent pool.
const DefaultPool = "default"

// MaxWait bounds a claim's long poll.
const MaxWait = 60 * time.Second

// MaxLogChunk bounds one log upload (platform/run.MaxLogChunk; a test in
// internal/jobserver keeps the two equal).
const MaxLogChunk = 1 << 20

// Job is a claimed phase.
type Job struct {
	Phase   Phase        `json:"phase"`
	PhaseID string       `json:"phase_id"`
	RunID   string       `json:"run_id"`
	Token   secret.Value `json:"-"` // the job token; on the wire as "token" (see JobWire)
	// RunToken is the phase's run token, for the run's own code (the tfe
	// provider, OpenTofu's remote state): the agent puts it in the phase's
	// environment as TFE_TOKEN and TF_TOKEN_<host>. It reaches only what
	// the workspace was granted and is revoked with the job token. On the
	// wire as "run_token".
	RunToken               secret.Value `json:"-"`
	TokenExpires           time.Time    `json:"token_expires"`
	Organization           string       `json:"organization"`
	Project                string       `json:"project"`
	ProjectID              string       `json:"project_id"`
	Workspace              string       `json:"workspace"`
	WorkspaceID            string       `json:"workspace_id"`
	WorkingDirectory       string       `json:"working_directory"`
	TerraformVersion       string       `json:"terraform_version"`
	ConfigurationVersionID string       `json:"configuration_version_id"`
	IsDestroy              bool         `json:"is_destroy"`
	// Plan options: -refresh=false, -refresh-only, -target=ADDR and
	// -replace=ADDR. The server has checked the addresses. (Run
	// variables come with the inputs, as sensitive HCL Terraform
	// variables.)
	NoRefresh    bool     `json:"no_refresh,omitempty"`
	RefreshOnly  bool     `json:"refresh_only,omitempty"`
	TargetAddrs  []string `json:"target_addrs,omitempty"`
	ReplaceAddrs []string `json:"replace_addrs,omitempty"`
	Message      string   `json:"message"`
	// PhaseTimeout is the workspace's bound on the phase, 0 for none; the
	// agent takes the shorter of it and its own.
	PhaseTimeout time.Duration `json:"phase_timeout,omitempty"`
	// PlanOnly: the run is speculative and ends with its plan; no apply
	// will need the saved plan, so the agent does not upload it.
	PlanOnly bool `json:"plan_only,omitempty"`
}

// JobWire is Job as sent: the token in the clear, which Job never holds
// as a plain string. Only the server and Client.Claim use it.
type JobWire struct {
	Job
	Token    string `json:"token"`
	RunToken string `json:"run_token,omitempty"`
}

// Variable is a workspace variable as a run sees it.
type Variable struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Category  string `json:"category"` // "terraform" or "env"
	HCL       bool   `json:"hcl"`
	Sensitive bool   `json:"sensitive"`
}

// Inputs is everything a phase starts from.
type Inputs struct {
	Archive   []byte     `json:"archive"` // .tar.gz
	Variables []Variable `json:"variables"`
	State     []byte     `json:"state,omitempty"`     // current state version; none for a new workspace
	PlanFile  []byte     `json:"plan_file,omitempty"` // apply only
}

// Status is the run's status, which an agent polls to notice cancellation.
type Status struct {
	Status          string `json:"status"`
	CancelRequested bool   `json:"cancel_requested"` // stop, store what there is, Finish with Canceled
}

// MintRequest asks for a workload-identity token for the job's phase.
type MintRequest struct {
	Audience string `json:"audience"`
}

// MintResponse is the minted token.
type MintResponse struct {
	Token     string `json:"token"`
	JTI       string `json:"jti"`
	ExpiresAt int64  `json:"exp"`
}

// Finish ends a phase.
type Finish struct {
	Canceled     bool   `json:"canceled,omitempty"` // stopped on a user's cancel request
	Errored      bool   `json:"errored"`
	Message      string `json:"message,omitempty"` // why it errored; redacted by the agent
	HasChanges   bool   `json:"has_changes"`       // plans
	Additions    int    `json:"additions"`
	Changes      int    `json:"changes"`
	Destructions int    `json:"destructions"`
}
