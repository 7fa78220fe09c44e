// Package rotation rotates the path of a broker secrets mount: a new mount
// with a fresh random suffix takes the old one's secrets, every ACL policy
// and workspace variable naming the old path is rewritten, the consuming
// workspaces get a run, the old mount's leases are revoked and the old
// mount removed. One rotation is one row of a journal (mount_rotations),
// moved on after each step; every step can be repeated, so a server that
// stops mid-way resumes where the journal says. The commit point is the
// policy rewrite (one transaction): before it, a failure removes the new
// mount and leaves the old path working alone; after it, the rotation only
// goes forward. Each step is one audit record carrying the rotation's id.
//
// The broker, the variables and the run queue are reached through the small
// interfaces below, which the daemon wires; the package owns the journal,
// the per-mount schedule and their HTTP handlers.
package rotation

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/variable"
	"github.com/runcred/runcred/internal/store"
)

// State is where a rotation is: the last step done.
type State string

// The steps, in order. RollingBack and RolledBack are the failure path
// before the commit point (PoliciesRewritten).
const (
	Planned           State = "planned"
	MountCreated      State = "created"
	DataCopied        State = "copied"
	PoliciesRewritten State = "policies"
	VariablesUpdated  State = "variables"
	RunsQueued        State = "runs"
	LeasesRevoked     State = "leases"
	OldMountRemoved   State = "removed"
	Done              State = "done"
	RollingBack       State = "rolling_back"
	RolledBack        State = "rolled_back"
)

// order is the forward path; a state's step is the one after it.
var order = []State{Planned, MountCreated, DataCopied, PoliciesRewritten, VariablesUpdated, RunsQueued, LeasesRevoked, OldMountRemoved, Done}

func next(s State) State {
	for i, o := range order[:len(order)-1] {
		if o == s {
			return order[i+1]
		}
	}
	return ""
}

// committed reports whether s is past the commit point.
func committed(s State) bool {
	switch s {
	case PoliciesRewritten, VariablesUpdated, RunsQueued, LeasesRevoked, OldMountRemoved, Done:
		return true
	}
	return false
}

// Finished reports whether a rotation is over, done or rolled back.
func (s State) Finished() bool { return s == Done || s == RolledBack }

// Rotation is one journal row.
type Rotation struct {
	ID          string    `json:"id"`
	Mount       string    `json:"mount"`    // the old path, "secret-abc/"
	NewPath     string    `json:"new_path"` // "secret-def/"
	State       State     `json:"state"`
	Error       string    `json:"error,omitempty"`
	Report      Report    `json:"report"`
	RequestedBy string    `json:"requested_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Report is what the steps did.
type Report struct {
	// Entries is the number of storage entries copied: for kv v2 every
	// version of every key, with its metadata, and the mount's settings.
	Entries   int                  `json:"entries"`
	Policies  []string             `json:"policies"`
	Variables []variable.Rewritten `json:"variables"`
	Runs      []QueuedRun          `json:"runs"`
	Leases    int                  `json:"leases"`
}

// QueuedRun is a run queued in a consuming workspace, or why none was.
type QueuedRun struct {
	WorkspaceID string `json:"workspace_id"`
	RunID       string `json:"run_id,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Broker is the broker's part (internal/broker implements it).
type Broker interface {
	RotatableMount(ctx context.Context, path string) (string, error)
	MountExists(ctx context.Context, path string) (bool, error)
	CloneMount(ctx context.Context, from, to string) error
	FreezeMount(ctx context.Context, path, to string) error
	CopyMount(ctx context.Context, from, to string) (int, error)
	RewritePolicies(ctx context.Context, from, to string) ([]string, error)
	PoliciesNaming(ctx context.Context, path string) ([]string, error)
	RevokeMountLeases(ctx context.Context, path string) (int, error)
	RemoveMount(ctx context.Context, path string) error
}

// Variables rewrites and finds variable values (variable.Service).
type Variables interface {
	RewriteValues(ctx context.Context, reason string, rewrite func(string) (string, bool)) ([]variable.Rewritten, error)
	WorkspacesHolding(ctx context.Context, match func(string) bool) ([]string, error)
}

// Runs queues a run in a workspace with a message and returns its id, and
// says whether a run still waits behind its workspace's active run.
type Runs interface {
	Queue(ctx context.Context, workspaceID, message string) (string, error)
	Pending(ctx context.Context, runID string) (bool, error)
}

// Config is what a Service needs.
type Config struct {
	DB        *store.DB
	Audit     *audit.Log
	Authz     access.Authorizer
	Broker    Broker
	Variables Variables
	Runs      Runs
	// Replace rewrites a mount name (no slashes) in a text, whole path
	// segments only (broker.ReplaceMountName).
	Replace func(s, from, to string) (string, bool)
	Logger  *slog.Logger
	Now     func() time.Time
	// Claim is how long a node holds a rotation it works on without
	// renewing the claim; another node (or this one after a restart)
	// takes over after it. 0 is 30 s.
	Claim time.Duration
	// Interval is how often the background task looks for rotations to
	// resume and scheduled rotations that are due; 0 is 10 s.
	Interval time.Duration
	// AfterStep, when set, is called after each step is journaled; an
	// error stops the rotation there as a crash would (tests).
	AfterStep func(Rotation) error
}

// Service runs rotations.
type Service struct {
	cfg     Config
	db      db
	log     *slog.Logger
	now     func() time.Time
	wake    chan struct{}
	started time.Time // when this process made the service
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Claim == 0 {
		cfg.Claim = 30 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	return &Service{cfg: cfg, db: db{cfg.DB}, log: cfg.Logger, now: cfg.Now, wake: make(chan struct{}, 1), started: cfg.Now()}
}

// permPath is where the ACL grants rotating a mount: update on
// sys/mounts/<mount>/rotate (as tuning is on sys/mounts/<mount>/tune).
func permPath(mount string) string { return "sys/mounts/" + strings.Trim(mount, "/") + "/rotate" }

// system is the caller a rotation's steps run as once the request that
// started it was authorized (and when the journal resumes it, or the
// schedule starts it): the steps need every variable and workspace the
// mount's path reached.
func system(id string) context.Context {
	return access.WithCaller(context.Background(), access.Caller{DisplayName: "mount rotation " + id, Policies: []string{"root"}})
}

// suffixChars are those of a mount's random suffix.
const suffixChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewPath is the path a mount rotates to: its prefix (the path without
// its "-<8 lowercase alphanumerics>" suffix, or the whole path if it has
// none), "-" and a fresh random suffix.
func NewPath(mount string) string {
	name := strings.Trim(mount, "/")
	if i := strings.LastIndexByte(name, '-'); i >= 0 && isSuffix(name[i+1:]) {
		name = name[:i]
	}
	return name + "-" + randomSuffix() + "/"
}

func isSuffix(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune(suffixChars, c) {
			return false
		}
	}
	return true
}

func randomSuffix() string {
	out := make([]byte, 0, 8)
	var buf [16]byte
	for len(out) < 8 {
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			// 252 = 7*36: rejecting above it keeps every character equally likely.
			if b < 252 && len(out) < 8 {
				out = append(out, suffixChars[int(b)%len(suffixChars)])
			}
		}
	}
	return string(out)
}

func newID() string { return "rot-" + randomSuffix() + randomSuffix() }

// errStopped is returned when AfterStep stopped a rotation.
var errStopped = fail.Unavailablef("rotation stopped")
