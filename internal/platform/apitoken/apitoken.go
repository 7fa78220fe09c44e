package apitoken

import (
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/secret"
)

// Kind says whom a platform-issued API token belongs to.
type Kind string

const (
	KindAgent Kind = "agent" // an agent pool's
	KindTeam  Kind = "team"
)

// Token is an agent or team token as runcred lists it: the token itself
// is only in what the call that creates it returns.
type Token struct {
	ID           string // "at-…"
	Kind         Kind
	Organization string // name
	OwnerID      string // the agent pool or team
	Description  string
	// Legacy marks a team's single token (POST /teams/:id/authentication-token),
	// which creating another replaces.
	Legacy    bool
	CreatedBy resource.Writer
	CreatedAt time.Time
	ExpiresAt time.Time    // zero: never
	Token     secret.Value // set only on create

	accessor string
}

// ErrNoTokens is the answer of every token operation of a server without a
// token issuer.
var ErrNoTokens = fail.Unsupportedf("this server cannot issue API tokens (no token issuer is configured)")

// TeamPolicy and PoolPolicy name the broker policy an owner's tokens hold.
func TeamPolicy(id string) string { return "team-" + id }

func PoolPolicy(id string) string { return "agent-pool-" + id }

// TokensPath is where an owner's tokens sit in the authorization tree.
func TokensPath(kind Kind, org, owner string) string {
	if kind == KindTeam {
		return resource.TeamPath(org, owner) + "/tokens"
	}
	return resource.PoolPath(org, owner) + "/tokens"
}

// Audit is how a token appears in audit records.
func Audit(t Token) map[string]any {
	return map[string]any{
		"organization": t.Organization, "id": t.ID, "kind": t.Kind, "owner_id": t.OwnerID,
		"description": t.Description, "legacy": t.Legacy, "expires_at": t.ExpiresAt,
	}
}
