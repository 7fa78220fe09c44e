package apitoken

import (
	"context"
	"errors"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Ledger issues, lists and revokes teams' and agent pools' tokens for the
// domains that own them, which authorize their callers first: it
// authorizes nothing itself.
type Ledger struct {
	base   resource.Deps
	db     db
	tokens resource.Tokens // nil: no token is ever issued
}

// NewLedger returns a Ledger; tokens may be nil on a server that issues none.
func NewLedger(base resource.Deps, tokens resource.Tokens) Ledger {
	return Ledger{base: base, db: db{base.DB}, tokens: tokens}
}

// Issues reports whether the ledger can issue tokens at all.
func (l Ledger) Issues() bool { return l.tokens != nil }

// Issue has the broker issue req as t, and records t. A token whose row
// cannot be written is revoked at once, so no token exists that runcred
// cannot list and revoke.
func (l Ledger) Issue(ctx context.Context, t Token, req resource.TokenRequest) (Token, error) {
	by, err := resource.WriterOf(ctx)
	if err != nil {
		return Token{}, err
	}
	now := l.base.Now()
	t.CreatedBy, t.CreatedAt = resource.Writer{Kind: by.Kind, ID: by.ID}, store.Stored(now)
	if !t.ExpiresAt.IsZero() {
		req.TTL = t.ExpiresAt.Sub(now)
	}
	issued, err := l.tokens.IssueToken(ctx, req)
	if err != nil {
		return Token{}, err
	}
	t.Token, t.accessor = issued.Token, issued.Accessor
	if !issued.Expires.IsZero() {
		t.ExpiresAt = issued.Expires
	}
	if err := l.db.insert(ctx, t); err != nil {
		if rerr := l.revoke(ctx, t.accessor); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if t.Legacy {
			return Token{}, resource.Conflict(err, "another token was created for this team at the same time; try again")
		}
		return Token{}, err
	}
	return t, nil
}

// revoke revokes the broker token with accessor; one already gone (revoked
// through the broker's API, expired or used up) is fine. The broker
// reports a gone accessor as unauthenticated, as it does to its own
// clients; nothing else makes this internal call unauthenticated.
func (l Ledger) revoke(ctx context.Context, accessor string) error {
	if l.tokens == nil {
		return ErrNoTokens
	}
	err := l.tokens.RevokeAccessor(ctx, accessor)
	if err == nil || fail.Is(err, fail.NotFound) || fail.Is(err, fail.Unauthenticated) || store.IsNotFound(err) {
		return nil
	}
	return err
}

// RevokeOwner revokes every token of an agent pool or team.
func (l Ledger) RevokeOwner(ctx context.Context, owner string) error {
	accessors, err := l.db.accessors(ctx, owner)
	if err != nil {
		return err
	}
	for _, a := range accessors {
		if err := l.revoke(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// RevokeOrganizationTokens revokes every agent and team token of org and
// deletes the broker policies of its pools and teams. Deleting an
// organization must call it first: the rows naming the tokens go with the
// organization, and a team policy names the organization, so a token left
// behind would reach an organization later created with the same name.
func (l Ledger) RevokeOrganizationTokens(ctx context.Context, org string) error {
	pools, teams, err := l.db.owners(ctx, org)
	if err != nil {
		return err
	}
	if l.tokens == nil {
		return nil // nothing was ever issued
	}
	for _, group := range []struct {
		ids    []string
		policy func(string) string
	}{{pools, PoolPolicy}, {teams, TeamPolicy}} {
		for _, id := range group.ids {
			if err := l.RevokeOwner(ctx, id); err != nil {
				return err
			}
			if err := l.tokens.DeletePolicy(ctx, group.policy(id)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete records, revokes and forgets t.
func (l Ledger) Delete(ctx context.Context, t Token) error {
	if err := l.base.Record(ctx, "platform."+string(t.Kind)+"_token.delete", Audit(t)); err != nil {
		return err
	}
	if err := l.revoke(ctx, t.accessor); err != nil {
		return err
	}
	return l.db.delete(ctx, t.ID)
}

// Legacy returns team owner's single legacy token; missing is not found
// with a message naming the team.
func (l Ledger) Legacy(ctx context.Context, owner, name string) (Token, error) {
	t, err := l.db.legacy(ctx, owner)
	return t, resource.NotFound(err, "team %q has no team token", name)
}

// OfOwner lists the tokens of an agent pool or team, oldest first.
func (l Ledger) OfOwner(ctx context.Context, owner string, pg resource.Page) ([]Token, int, error) {
	return l.db.list(ctx, `t.owner_id = ?`, []any{owner}, pg)
}

// OfKind lists the tokens of kind in org, oldest first.
func (l Ledger) OfKind(ctx context.Context, org string, kind Kind, pg resource.Page) ([]Token, int, error) {
	return l.db.list(ctx, `o.name = ? AND t.kind = ?`, []any{org, string(kind)}, pg)
}
