package platform

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// Sealer encrypts values at rest (internal/seal.Seal).
type Sealer interface {
	Encrypt(plaintext []byte, aad string) ([]byte, error)
	Decrypt(ciphertext []byte, aad string) ([]byte, error)
}

// Auditor records changes before they are made (internal/audit.Log).
type Auditor interface {
	Append(ctx context.Context, typ string, body any) (audit.Record, error)
}

// Config is what a Service needs.
type Config struct {
	DB    *store.DB
	Seal  Sealer
	Audit Auditor
	Authz access.Authorizer
	// Tokens issues agent, team and job tokens; nil leaves those
	// operations unavailable (tests of other parts).
	Tokens Tokens
	// Mint mints the workload identity tokens of jobs; nil leaves
	// MintForJob unavailable.
	Mint Minter
	Now  func() time.Time // defaults to time.Now
}

// Service is the platform's domain logic. It is safe for concurrent use.
type Service struct {
	db     *store.DB
	seal   Sealer
	audit  Auditor
	authz  access.Authorizer
	tokens Tokens
	minter Minter
	now    func() time.Time

	wakeMu sync.Mutex
	wake   chan struct{} // see JobsChanged
}

// New returns a Service; it panics on missing wiring, a bug found at start-up.
func New(c Config) *Service {
	if c.DB == nil || c.Seal == nil || c.Audit == nil || c.Authz == nil {
		panic("platform: New needs DB, Seal, Audit and Authz")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{db: c.DB, seal: c.Seal, audit: c.Audit, authz: c.Authz, tokens: c.Tokens, minter: c.Mint, now: c.Now, wake: make(chan struct{})}
}

// Authorization paths, in the broker's ACL vocabulary. Names never hold '/',
// so each is exactly one path segment.
func orgsPath() string                    { return "runcred/orgs" }
func orgPath(org string) string           { return "runcred/orgs/" + org }
func projectPath(org, name string) string { return orgPath(org) + "/projects/" + name }
func projectsPath(org string) string      { return orgPath(org) + "/projects" }
func workspacesPath(org string) string    { return orgPath(org) + "/workspaces" }
func workspacePath(org, ws string) string { return workspacesPath(org) + "/" + ws }
func varsPath(org, ws string) string      { return workspacePath(org, ws) + "/vars" }
func varPath(org, ws, key string) string  { return varsPath(org, ws) + "/" + key }

// runVarsPath is where reading decrypted values for a run is granted: apart
// from vars/, so reading variable metadata never implies reading secrets.
func runVarsPath(org, ws string) string { return workspacePath(org, ws) + "/run-variables" }

func (s *Service) authorize(ctx context.Context, path, capability string) error {
	return s.authz.Authorize(ctx, path, capability)
}

// writerOf derives a write's provenance from the caller: a run token names
// its run and workspace, a team token its team; anything else is a user.
func writerOf(ctx context.Context) (Writer, error) {
	c, ok := access.CallerFrom(ctx)
	if !ok {
		return Writer{}, fail.Unauthenticatedf("missing client token")
	}
	switch {
	case c.Meta[MetaRunID] != "":
		return Writer{Kind: WriterRun, ID: c.Meta[MetaRunID], Name: c.DisplayName, WorkspaceID: c.Meta[MetaWorkspaceID]}, nil
	case c.Meta[MetaTeamID] != "":
		return Writer{Kind: WriterTeam, ID: c.Meta[MetaTeamID], Name: c.DisplayName}, nil
	}
	id := c.Accessor
	if id == "" {
		id = c.DisplayName
	}
	return Writer{Kind: WriterUser, ID: id, Name: c.DisplayName}, nil
}

// record appends an audit record before a change is made, so nothing
// changes that the log does not show; when the change then fails, the
// record stands for the attempt.
func (s *Service) record(ctx context.Context, typ string, body map[string]any) error {
	w, err := writerOf(ctx)
	if err != nil {
		return err
	}
	body["by"] = w
	if _, err := s.audit.Append(ctx, typ, body); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return nil
}

// notFound hides store.ErrNotFound's generic text behind a specific message.
func notFound(err error, format string, args ...any) error {
	if store.IsNotFound(err) {
		return fail.NotFoundf(format, args...)
	}
	return err
}

// conflict does the same for uniqueness conflicts.
func conflict(err error, format string, args ...any) error {
	if store.IsConflict(err) {
		return fail.Wrap(fail.Conflict, err, fmt.Sprintf(format, args...))
	}
	return err
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
