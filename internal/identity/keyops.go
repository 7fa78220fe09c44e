package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
)

// The operators' keyring changes: a requested rotation (forced for a
// compromised key) and revocation, and how keyring changes are audited.

// RotateResult says what a requested rotation did.
type RotateResult struct {
	Current string `json:"current_kid"`
	Next    string `json:"next_kid"`
	Retired string `json:"retired_kid,omitempty"`
	// RetiredUntil is when the retired key leaves the JWKS; its tokens
	// verify until then unless it is revoked (RevokeKey).
	RetiredUntil time.Time `json:"retired_until,omitzero"`
	// Concurrent is true when another node rotated between this request's
	// read and write; that rotation stands and no second one was made.
	Concurrent bool `json:"concurrent,omitempty"`
	// Early is true when a forced rotation promoted a key published for
	// less than the publish lead; Warning says what verifiers will see.
	Early   bool   `json:"early,omitempty"`
	Warning string `json:"warning,omitempty"`
}

// Rotate rotates now. Several nodes asked at once make exactly one. Unless
// force is set it is refused while the next key has been published for
// less than the publish lead, since a verifier holding an older cached JWKS
// would refuse the new key's tokens; force is for a compromised current key.
func (i *Issuer) Rotate(ctx context.Context, force bool) (RotateResult, error) {
	if err := i.authz.Authorize(ctx, "runcred/identity/rotate", access.Sudo); err != nil {
		return RotateResult{}, err
	}
	if err := i.Refresh(ctx); err != nil {
		return RotateResult{}, err
	}
	now := i.cfg.Now()
	before := i.snapshot()
	was, _ := before.Current()
	until := before.PromotableAt(i.cfg.Policy)
	if now.Before(until) && !force {
		return RotateResult{}, fail.Wrap(fail.Conflict, nil, ErrNextKeyTooNew{Until: until}.Error()+" (or now with --force, if the current key is compromised)")
	}
	fresh, err := NewKey(i.cfg.KeyBits, now)
	if err != nil {
		return RotateResult{}, err
	}
	var res RotateResult
	var events []rotation
	caller, _ := access.CallerFrom(ctx)
	ring, err := i.keys.update(ctx, now, func(old Keyring) (Keyring, bool, error) {
		events = events[:0]
		if cur, ok := old.Current(); ok && cur.ID != was.ID {
			res.Concurrent = true
			return old, false, nil
		}
		var rotated Keyring
		var err error
		if force {
			rotated, err = old.ForceRotate(now, fresh)
		} else {
			rotated, err = old.Rotate(now, i.cfg.Policy, fresh)
		}
		if err != nil {
			return old, false, err
		}
		res.Early = now.Before(old.PromotableAt(i.cfg.Policy))
		ev := rotationOf(old, rotated, "requested")
		ev.body["force"], ev.body["early"], ev.body["caller"] = force, res.Early, caller.Accessor
		events = append(events, ev)
		return rotated, true, nil
	})
	var tooNew ErrNextKeyTooNew
	if errors.As(err, &tooNew) {
		return RotateResult{}, fail.Wrap(fail.Conflict, nil, tooNew.Error())
	}
	if err != nil {
		return RotateResult{}, err
	}
	i.record(ctx, events)
	if err := i.install(ring); err != nil {
		return RotateResult{}, err
	}
	cur, _ := ring.Current()
	next, _ := ring.NextKey()
	res.Current, res.Next = cur.ID, next.ID
	if res.Concurrent {
		res.Early = false
		return res, nil
	}
	res.Retired = was.ID
	res.RetiredUntil = now.Add(i.cfg.MaxTokenTTL + i.cfg.Leeway).UTC()
	if res.Early {
		res.Warning = fmt.Sprintf("the new signing key %s was published less than the publish lead (%s) ago: "+
			"a verifier whose cached JWKS predates it refuses its tokens until it fetches the JWKS again "+
			"(verifiers that refetch on an unknown kid, as go-oidc and MinIO do, recover at once; every copy fetched "+
			"before any node published it has expired by %s)",
			cur.ID, i.cfg.PublishLead, cur.CreatedAt.Add(i.cfg.RefreshInterval+i.cfg.JWKSMaxAge()).UTC().Format(time.RFC3339))
	}
	return res, nil
}

// RevokeResult says what RevokeKey removed.
type RevokeResult struct {
	KeyID string   `json:"kid"`
	State KeyState `json:"state"` // the state it was in
	// Next is the key published in place of a revoked next key.
	Next string `json:"next_kid,omitempty"`
}

// RevokeKey removes a compromised key from the keyring: it leaves the JWKS
// at once (every node re-reads the keyring before serving a JWKS older than
// a second), so verifiers that fetch the JWKS afterwards refuse its tokens,
// and it never signs again. The current key is refused: rotate first.
func (i *Issuer) RevokeKey(ctx context.Context, kid string) (RevokeResult, error) {
	if err := i.authz.Authorize(ctx, "runcred/identity/revoke-key", access.Sudo); err != nil {
		return RevokeResult{}, err
	}
	if err := i.Refresh(ctx); err != nil {
		return RevokeResult{}, err
	}
	now := i.cfg.Now()
	var fresh Key
	ring := i.snapshot()
	if next, ok := ring.NextKey(); ok && next.ID == kid {
		var err error
		if fresh, err = NewKey(i.cfg.KeyBits, now); err != nil {
			return RevokeResult{}, err
		}
	}
	caller, _ := access.CallerFrom(ctx)
	res := RevokeResult{KeyID: kid}
	var events []rotation
	ring, err := i.keys.update(ctx, now, func(old Keyring) (Keyring, bool, error) {
		events = events[:0]
		out, state, err := old.Revoke(kid, fresh)
		if err != nil {
			return old, false, err
		}
		if state == Next && fresh.ID == "" {
			return old, false, fail.Conflictf("the keyring changed while the key was revoked; try again")
		}
		res.State, res.Next = state, ""
		if state == Next {
			res.Next = fresh.ID
		}
		events = append(events, rotation{"identity.revoke_key", map[string]any{
			"kid": kid, "state": state, "next_kid": res.Next, "caller": caller.Accessor,
		}})
		return out, true, nil
	})
	switch {
	case errors.Is(err, ErrNoSuchKey):
		return RevokeResult{}, fail.NotFoundf("signing key %q: no such key (runcred identity keys lists them)", fail.Clip(kid))
	case errors.Is(err, ErrRevokeCurrent):
		return RevokeResult{}, fail.Wrap(fail.Conflict, nil, fmt.Sprintf("signing key %s: %s", kid, ErrRevokeCurrent))
	case err != nil:
		return RevokeResult{}, err
	}
	i.record(ctx, events)
	if err := i.install(ring); err != nil {
		return RevokeResult{}, err
	}
	i.log.Warn("identity: signing key revoked", "kid", kid, "state", res.State)
	return res, nil
}

type rotation struct {
	typ  string
	body map[string]any
}

func rotationOf(old, new Keyring, reason string) rotation {
	was, _ := old.Current()
	cur, _ := new.Current()
	next, _ := new.NextKey()
	return rotation{"identity.rotate", map[string]any{"reason": reason, "retired_kid": was.ID, "current_kid": cur.ID, "next_kid": next.ID}}
}

func removalOf(old, new Keyring) rotation {
	kept := map[string]bool{}
	for _, k := range new.Keys {
		kept[k.ID] = true
	}
	var gone []string
	for _, k := range old.Keys {
		if !kept[k.ID] {
			gone = append(gone, k.ID)
		}
	}
	return rotation{"identity.unpublish", map[string]any{"removed_kids": gone}}
}

// record audits keyring changes. The change is already stored, so a failure
// here is logged loudly rather than undone.
func (i *Issuer) record(ctx context.Context, events []rotation) {
	for _, e := range events {
		if _, err := i.audit.Append(ctx, e.typ, e.body); err != nil {
			i.log.Error("identity: could not audit keyring change", "type", e.typ, "err", err)
		}
	}
}
