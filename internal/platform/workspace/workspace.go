package workspace

import (
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Execution modes. Every run goes to an agent: "agent" to the workspace's
// pool (the default pool when it names none), "remote" to the default pool
// (HCP Terraform's own runners, which runcred's default pool stands for).
// A "local" workspace runs nothing on runcred; it only keeps its state.
const (
	ExecutionAgent  = "agent"
	ExecutionRemote = "remote"
	ExecutionLocal  = "local"
)

// Workspace is where runs happen.
type Workspace struct {
	ID               string
	Organization     string // name
	ProjectID        string
	Name             string
	Description      string
	AutoApply        bool
	ExecutionMode    string // ExecutionAgent, ExecutionRemote or ExecutionLocal
	WorkingDirectory string
	TerraformVersion string
	AgentPoolID      string // "" when none: served by agents of the default pool
	LockedBy         string // "" when unlocked; else who locked it ("user:<accessor>", "team:<id>")
	LockReason       string
	// PhaseTimeout bounds one plan or apply of the workspace's runs; 0
	// leaves the agent's own bound (2 h by default). An agent takes the
	// shorter of the two.
	PhaseTimeout time.Duration
	// GlobalRemoteState shares the outputs of the workspace's state with
	// every workspace of its organization (their run tokens may read
	// them); otherwise only with its remote state consumers.
	GlobalRemoteState bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Options are the settable fields of a workspace; nil leaves a
// field as it is (or at its default on create).
type Options struct {
	Name             *string
	Description      *string
	AutoApply        *bool
	ExecutionMode    *string
	WorkingDirectory *string
	TerraformVersion *string
	AgentPoolID      *string
	ProjectID        *string // default: the organization's default project
	PhaseTimeout     *time.Duration
	// GlobalRemoteState: see Workspace.
	GlobalRemoteState *bool
}

// Bounds on a workspace's phase timeout: a job token lives at most 3 h, so
// a longer phase could not report its end.
const (
	MinPhaseTimeout = time.Minute
	MaxPhaseTimeout = 3 * time.Hour
)

// Filter narrows a workspace list.
type Filter struct {
	Search    string // part of the name
	ProjectID string
	Tags      []string // tag names: keys of the workspace's own bindings without a value
	Page      resource.Page

	only []string // non-nil: only these workspace ids (those the caller may read)
}

func (o Options) apply(w *Workspace) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&w.Name, o.Name)
	set(&w.Description, o.Description)
	set(&w.ExecutionMode, o.ExecutionMode)
	set(&w.WorkingDirectory, o.WorkingDirectory)
	set(&w.TerraformVersion, o.TerraformVersion)
	set(&w.AgentPoolID, o.AgentPoolID)
	set(&w.ProjectID, o.ProjectID)
	if o.AutoApply != nil {
		w.AutoApply = *o.AutoApply
	}
	if o.PhaseTimeout != nil {
		w.PhaseTimeout = *o.PhaseTimeout
	}
	if o.GlobalRemoteState != nil {
		w.GlobalRemoteState = *o.GlobalRemoteState
	}
	if w.ExecutionMode == "" {
		w.ExecutionMode = ExecutionAgent
	}
	// Only an agent workspace names a pool: a pool given with another mode
	// is refused, and leaving agent mode detaches the pool.
	if w.ExecutionMode != ExecutionAgent && w.AgentPoolID != "" {
		if o.AgentPoolID != nil && *o.AgentPoolID != "" {
			return fail.Invalidf("agent pool %q is only for execution mode %q, not %q", fail.Clip(w.AgentPoolID), ExecutionAgent, fail.Clip(w.ExecutionMode))
		}
		w.AgentPoolID = ""
	}
	for _, err := range []error{
		resource.ValidWorkspaceName(w.Name), resource.ValidDescription(w.Description), validExecutionMode(w.ExecutionMode),
		validWorkingDirectory(w.WorkingDirectory), validTerraformVersion(w.TerraformVersion), resource.ValidAgentPoolID(w.AgentPoolID),
		validPhaseTimeout(w.PhaseTimeout),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

var versionRe = regexp.MustCompile(`^[A-Za-z0-9.~<>=!, +-]*$`)

const (
	maxPathLen    = 512
	maxVersionLen = 64
)

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
		return fail.Invalidf("terraform version %q is not a version or version constraint", fail.Clip(v))
	}
	return nil
}

func validPhaseTimeout(d time.Duration) error {
	if d != 0 && (d < MinPhaseTimeout || d > MaxPhaseTimeout || d%time.Second != 0) {
		return fail.Invalidf("phase timeout must be 0 (the agent's own) or whole seconds from %d to %d",
			int(MinPhaseTimeout/time.Second), int(MaxPhaseTimeout/time.Second))
	}
	return nil
}

func validExecutionMode(m string) error {
	switch m {
	case "", ExecutionAgent, ExecutionRemote, ExecutionLocal:
		return nil
	}
	return fail.Invalidf("execution mode %q is not %q, %q or %q", fail.Clip(m), ExecutionAgent, ExecutionRemote, ExecutionLocal)
}
