package resource

import (
	"context"
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// TokenRequest describes an API token the platform issues: an agent token
// for a pool, a team token, a run's job token. Tokens are the broker's, so
// one ACL governs the platform API and the broker alike.
type TokenRequest struct {
	DisplayName string
	Policies    []string          // broker ACL policy names; never "root"
	Meta        map[string]string // MetaRunID, MetaTeamID, … for provenance
	TTL         time.Duration     // 0: no expiry
}

// IssuedToken is a token the platform handed out.
type IssuedToken struct {
	Token    secret.Value // shown once, never stored
	Accessor string       // how it is listed and revoked later
	Expires  time.Time    // zero: never
}

// Tokens issues and revokes API tokens and keeps the ACL policies that
// scope them (internal/broker.Broker implements it). Calls are made on the
// platform's behalf after the service has authorized its caller; the
// broker audits each.
type Tokens interface {
	IssueToken(ctx context.Context, req TokenRequest) (IssuedToken, error)
	RevokeAccessor(ctx context.Context, accessor string) error
	PutPolicy(ctx context.Context, name, body string) error
	// EnsurePolicy writes body only if no policy name exists, so an
	// admin's edit of it stands.
	EnsurePolicy(ctx context.Context, name, body string) error
	DeletePolicy(ctx context.Context, name string) error
}
