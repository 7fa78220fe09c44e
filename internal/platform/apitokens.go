package platform

import (
	"context"
	"errors"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// TokenKind says whom a platform-issued API token belongs to.
type TokenKind string

const (
	TokenAgent TokenKind = "agent" // an agent pool's
	TokenTeam  TokenKind = "team"
)

// APIToken is an agent or team token as runcred lists it: the token itself
// is only in what the call that creates it returns.
type APIToken struct {
	ID           string // "at-…"
	Kind         TokenKind
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

var errNoTokens = fail.Unsupportedf("this server cannot issue API tokens (no token issuer is configured)")

func tokenAudit(t APIToken) map[string]any {
	return map[string]any{
		"organization": t.Organization, "id": t.ID, "kind": t.Kind, "owner_id": t.OwnerID,
		"description": t.Description, "legacy": t.Legacy, "expires_at": t.ExpiresAt,
	}
}

// issue has the broker issue req as t, and records t. A token whose row
// cannot be written is revoked at once, so no token exists that runcred
// cannot list and revoke.
func (s *Service) issue(ctx context.Context, t APIToken, req TokenRequest) (APIToken, error) {
	by, err := resource.WriterOf(ctx)
	if err != nil {
		return APIToken{}, err
	}
	now := s.base.Now()
	t.CreatedBy, t.CreatedAt = resource.Writer{Kind: by.Kind, ID: by.ID}, resource.FromNanos(resource.Nanos(now))
	if !t.ExpiresAt.IsZero() {
		req.TTL = t.ExpiresAt.Sub(now)
	}
	issued, err := s.tokens.IssueToken(ctx, req)
	if err != nil {
		return APIToken{}, err
	}
	t.Token, t.accessor = issued.Token, issued.Accessor
	if !issued.Expires.IsZero() {
		t.ExpiresAt = issued.Expires
	}
	var expires int64
	if !t.ExpiresAt.IsZero() {
		expires = resource.Nanos(t.ExpiresAt)
	}
	_, err = s.base.DB.Exec(ctx, `INSERT INTO platform_tokens (id, kind, org_id, owner_id, legacy, description, accessor,
		created_by_kind, created_by_id, created_at, expires_at)
		VALUES (?, ?, (SELECT id FROM organizations WHERE name = ?), ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, string(t.Kind), t.Organization, t.OwnerID, resource.B2I(t.Legacy), t.Description, t.accessor,
		string(t.CreatedBy.Kind), t.CreatedBy.ID, resource.Nanos(now), expires)
	if err != nil {
		if rerr := s.revoke(ctx, t.accessor); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if t.Legacy {
			return APIToken{}, resource.Conflict(err, "another token was created for this team at the same time; try again")
		}
		return APIToken{}, err
	}
	return t, nil
}

// revoke revokes the broker token with accessor; one already gone (revoked
// through the broker's API, expired or used up) is fine. The broker
// reports a gone accessor as unauthenticated, as it does to its own
// clients; nothing else makes this internal call unauthenticated.
func (s *Service) revoke(ctx context.Context, accessor string) error {
	if s.tokens == nil {
		return errNoTokens
	}
	err := s.tokens.RevokeAccessor(ctx, accessor)
	if err == nil || fail.Is(err, fail.NotFound) || fail.Is(err, fail.Unauthenticated) || store.IsNotFound(err) {
		return nil
	}
	return err
}

// revokeOwnerTokens revokes every token of an agent pool or team.
func (s *Service) revokeOwnerTokens(ctx context.Context, owner string) error {
	rows, err := s.base.DB.Query(ctx, `SELECT accessor FROM platform_tokens WHERE owner_id = ?`, owner)
	if err != nil {
		return err
	}
	accessors, err := store.Strings(rows)
	if err != nil {
		return err
	}
	for _, a := range accessors {
		if err := s.revoke(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// revokeOrganizationTokens revokes every agent and team token of org and
// deletes the broker policies of its pools and teams. Deleting an
// organization must call it first: the rows naming the tokens go with the
// organization, and a team policy names the organization, so a token left
// behind would reach an organization later created with the same name.
func (s *Service) revokeOrganizationTokens(ctx context.Context, org string) error {
	owners := func(q string) ([]string, error) {
		rows, err := s.base.DB.Query(ctx, q, org)
		if err != nil {
			return nil, err
		}
		return store.Strings(rows)
	}
	pools, err := owners(`SELECT p.id FROM agent_pools p JOIN organizations o ON o.id = p.org_id WHERE o.name = ?`)
	if err != nil {
		return err
	}
	teams, err := owners(`SELECT t.id FROM teams t JOIN organizations o ON o.id = t.org_id WHERE o.name = ?`)
	if err != nil {
		return err
	}
	if s.tokens == nil {
		return nil // nothing was ever issued
	}
	for _, group := range []struct {
		ids    []string
		policy func(string) string
	}{{pools, poolPolicy}, {teams, teamPolicy}} {
		for _, id := range group.ids {
			if err := s.revokeOwnerTokens(ctx, id); err != nil {
				return err
			}
			if err := s.tokens.DeletePolicy(ctx, group.policy(id)); err != nil {
				return err
			}
		}
	}
	return nil
}

const apiTokenColumns = `t.id, t.kind, o.name, t.owner_id, t.legacy, t.description, t.accessor,
	t.created_by_kind, t.created_by_id, t.created_at, t.expires_at`

const apiTokenFrom = ` FROM platform_tokens t JOIN organizations o ON o.id = t.org_id `

func scanAPIToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var kind, by string
	var desc *string
	var legacy, created, expires int64
	if err := row.Scan(&t.ID, &kind, &t.Organization, &t.OwnerID, &legacy, &desc, &t.accessor,
		&by, &t.CreatedBy.ID, &created, &expires); err != nil {
		return APIToken{}, err
	}
	t.Kind, t.Legacy, t.CreatedBy.Kind, t.CreatedAt = TokenKind(kind), legacy != 0, resource.WriterKind(by), resource.FromNanos(created)
	if desc != nil {
		t.Description = *desc
	}
	if expires != 0 {
		t.ExpiresAt = resource.FromNanos(expires)
	}
	return t, nil
}

func (s *Service) tokensOf(ctx context.Context, where string, args []any, pg resource.Page) ([]APIToken, int, error) {
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*)`+apiTokenFrom+`WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg = pg.Normalize()
	rows, err := s.base.DB.Query(ctx, `SELECT `+apiTokenColumns+apiTokenFrom+`WHERE `+where+` ORDER BY t.created_at, t.id LIMIT ? OFFSET ?`,
		append(args, pg.Size, pg.Offset())...)
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanAPIToken)
	return out, total, err
}

// tokenFor looks up token id and authorizes capability on it, on its
// pool's or team's path.
func (s *Service) tokenFor(ctx context.Context, id, capability string) (APIToken, error) {
	if !resource.ValidID("at", id) {
		return APIToken{}, fail.NotFoundf("authentication token %q not found", resource.Clip(id))
	}
	t, err := scanAPIToken(s.base.DB.QueryRow(ctx, `SELECT `+apiTokenColumns+apiTokenFrom+`WHERE t.id = ?`, id))
	if err != nil {
		return APIToken{}, resource.NotFound(err, "authentication token %q not found", id)
	}
	path := poolTokenPath(t.Organization, t.OwnerID, t.ID)
	if t.Kind == TokenTeam {
		path = teamTokenPath(t.Organization, t.OwnerID, t.ID)
	}
	if err := s.base.Authorize(ctx, path, capability); err != nil {
		return APIToken{}, err
	}
	return t, nil
}

// AuthToken returns the agent or team token with id, without the token.
func (s *Service) AuthToken(ctx context.Context, id string) (APIToken, error) {
	return s.tokenFor(ctx, id, access.Read)
}

// DeleteAuthToken revokes the agent or team token with id.
func (s *Service) DeleteAuthToken(ctx context.Context, id string) error {
	t, err := s.tokenFor(ctx, id, access.Delete)
	if err != nil {
		return err
	}
	return s.deleteToken(ctx, t)
}

func (s *Service) deleteToken(ctx context.Context, t APIToken) error {
	if err := s.base.Record(ctx, "platform."+string(t.Kind)+"_token.delete", tokenAudit(t)); err != nil {
		return err
	}
	if err := s.revoke(ctx, t.accessor); err != nil {
		return err
	}
	res, err := s.base.DB.Exec(ctx, `DELETE FROM platform_tokens WHERE id = ?`, t.ID)
	return resource.Affected(res, err, "authentication token %q not found", t.ID)
}

// orgTokens lets the organization domain revoke an organization's tokens
// before deleting it.
type orgTokens struct{ s *Service }

func (o orgTokens) RevokeOrganizationTokens(ctx context.Context, org string) error {
	return o.s.revokeOrganizationTokens(ctx, org)
}
