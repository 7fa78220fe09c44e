// Package token stores runcred's API tokens (Vault-style service tokens): the
// root token `runcred dev` writes out, and later every token the broker
// issues. Only a SHA-256 of each token is stored, so a copy of the database
// yields no usable token.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Prefix marks runcred service tokens, as Vault's "hvs." does.
const Prefix = "hvs."

// MaxLen bounds a presented token before any work is done on it.
const MaxLen = 512

// Entry is what is known about a token.
type Entry struct {
	Accessor       string
	ParentID       string // hashed id of the parent token; empty for orphans
	Policies       []string
	Meta           map[string]string
	DisplayName    string
	Path           string // where it was created: "auth/jwt/login", "auth/token/create"
	CreatedAt      time.Time
	ExpiresAt      time.Time     // zero: never
	MaxExpiresAt   time.Time     // renewals never pass this; zero: no cap
	TTL            time.Duration // the TTL it was created with
	ExplicitMaxTTL time.Duration
	Period         time.Duration
	NumUses        int // uses left; 0: unlimited
	Renewable      bool
	BoundCIDRs     []netip.Prefix
	Type           string // "service"
	LastRenewal    time.Time
	id             string
}

// ID is the stored (hashed) id of the token: safe to keep and log, useless
// as a credential. Leases and child tokens point at it.
func (e Entry) ID() string { return e.id }

// Orphan reports whether the token has no parent.
func (e Entry) Orphan() bool { return e.ParentID == "" }

// Caller turns the entry into the identity a request runs as.
func (e Entry) Caller() access.Caller {
	return access.Caller{Accessor: e.Accessor, DisplayName: e.DisplayName, Policies: e.Policies, Meta: e.Meta}
}

// Store keeps tokens in the database.
type Store struct {
	db    *store.DB
	now   func() time.Time
	cache *cache // nil: every lookup reads the database
}

// NewStore returns a Store on db.
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// Cached makes s keep looked-up tokens in memory for up to ttl, and returns
// s. A token revoked through s is refused by s from the moment Revoke
// returns; one revoked on another node sharing the database is refused
// here once ttl has passed, so ttl should be the nodes' refresh interval.
// Call it before s is used.
func (s *Store) Cached(ttl time.Duration) *Store {
	if ttl > 0 {
		s.cache = &cache{ttl: ttl, m: map[string]cached{}}
	}
	return s
}

const columns = `id, accessor, parent_id, policies, meta, display_name, created_at, expires_at,
	path, ttl, explicit_max_ttl, max_expires_at, period, num_uses, renewable, bound_cidrs, type, last_renewal`

// Create issues a new token described by e (Accessor and CreatedAt are filled in).
func (s *Store) Create(ctx context.Context, e Entry) (secret.Value, Entry, error) {
	tok, e := s.Prepare(e)
	if err := s.db.Tx(ctx, func(tx *store.Tx) error { return s.Insert(ctx, tx, e) }); err != nil {
		return secret.Value{}, Entry{}, err
	}
	return tok, e, nil
}

// Prepare returns a new token and its entry, e with ID, Accessor and
// CreatedAt filled in, without storing them: the token exists once Insert
// has committed.
func (s *Store) Prepare(e Entry) (secret.Value, Entry) {
	tok := secret.FromString(Prefix + random(24))
	e.id = hash(tok)
	e.Accessor = random(24)
	e.CreatedAt = s.now().UTC().Truncate(time.Second)
	if e.Meta == nil {
		e.Meta = map[string]string{}
	}
	if e.Type == "" {
		e.Type = "service"
	}
	return tok, e
}

// Insert stores the entry Prepare returned, in tx. A child of a parent that
// is no longer live is refused with the same Unauthenticated error as a bad
// token.
func (s *Store) Insert(ctx context.Context, tx *store.Tx, e Entry) error {
	if e.ParentID != "" { // a parent being revoked takes no new children
		live, err := Live(ctx, tx, e.ParentID, s.now())
		if err != nil {
			return fmt.Errorf("token: create: %w", err)
		}
		if !live {
			return errBad
		}
	}
	pol, _ := json.Marshal(e.Policies)
	meta, _ := json.Marshal(e.Meta)
	_, err := tx.Exec(ctx, `INSERT INTO tokens (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.id, e.Accessor, nullString(e.ParentID), string(pol), string(meta), e.DisplayName, store.Nanos(e.CreatedAt), store.NullNanos(e.ExpiresAt),
		e.Path, seconds(e.TTL), seconds(e.ExplicitMaxTTL), store.NullNanos(e.MaxExpiresAt), seconds(e.Period), e.NumUses,
		boolInt(e.Renewable), joinCIDRs(e.BoundCIDRs), e.Type, nil)
	if err != nil {
		return fmt.Errorf("token: create: %w", err)
	}
	return nil
}

// errBad is the one answer for a token that is missing, malformed, expired
// or revoked, so a caller learns nothing about which.
var errBad = fail.Unauthenticatedf("permission denied")

// Lookup returns the live entry for tok, or an Unauthenticated error that
// does not say whether the token never existed or has expired.
func (s *Store) Lookup(ctx context.Context, tok secret.Value) (Entry, error) {
	if tok.Empty() || len(tok.Reveal()) > MaxLen {
		return Entry{}, errBad
	}
	// The database compares SHA-256 digests, not tokens: how long an index
	// lookup takes says nothing useful about a token's bytes.
	id := hash(tok)
	now := s.now()
	e, ok, gen := s.cache.get(id, now)
	if ok && s.live(e, now) {
		return e, nil
	}
	e, err := s.get(ctx, "id", id)
	if err == nil {
		s.cache.put(e, now, gen)
	}
	return e, err
}

// LookupAccessor returns the live entry with the given accessor.
func (s *Store) LookupAccessor(ctx context.Context, accessor string) (Entry, error) {
	if accessor == "" || len(accessor) > MaxLen {
		return Entry{}, errBad
	}
	return s.get(ctx, "accessor", accessor)
}

// LookupID returns the live entry with the given stored (hashed) id.
func (s *Store) LookupID(ctx context.Context, id string) (Entry, error) {
	return s.get(ctx, "id", id)
}

func (s *Store) get(ctx context.Context, col, val string) (Entry, error) {
	e, err := scanEntry(s.db.QueryRow(ctx, `SELECT `+columns+` FROM tokens WHERE `+col+` = ?`, val))
	if store.IsNotFound(err) {
		return Entry{}, errBad
	}
	if err != nil {
		return Entry{}, err
	}
	if !s.live(e, s.now()) {
		return Entry{}, errBad
	}
	return e, nil
}

// live reports whether e is unexpired and not used up (num_uses -1: being
// revoked).
func (s *Store) live(e Entry, now time.Time) bool {
	return (e.ExpiresAt.IsZero() || now.Before(e.ExpiresAt)) && e.NumUses >= 0
}

type scanner interface{ Scan(...any) error }

func scanEntry(row scanner) (Entry, error) {
	var (
		e                          Entry
		parent                     *string
		pol, meta, cidrs           string
		created                    int64
		exp, maxExp, renewed       *int64
		ttl, explicit, period, ren int64
	)
	err := row.Scan(&e.id, &e.Accessor, &parent, &pol, &meta, &e.DisplayName, &created, &exp,
		&e.Path, &ttl, &explicit, &maxExp, &period, &e.NumUses, &ren, &cidrs, &e.Type, &renewed)
	if err != nil {
		return Entry{}, err
	}
	e.CreatedAt = store.Time(created)
	if parent != nil {
		e.ParentID = *parent
	}
	e.ExpiresAt, e.MaxExpiresAt, e.LastRenewal = store.NullTime(exp), store.NullTime(maxExp), store.NullTime(renewed)
	e.TTL, e.ExplicitMaxTTL, e.Period = time.Duration(ttl)*time.Second, time.Duration(explicit)*time.Second, time.Duration(period)*time.Second
	e.Renewable = ren != 0
	if e.BoundCIDRs, err = splitCIDRs(cidrs); err != nil {
		return Entry{}, fmt.Errorf("token: decode bound cidrs: %w", err)
	}
	if err := json.Unmarshal([]byte(pol), &e.Policies); err != nil {
		return Entry{}, fmt.Errorf("token: decode policies: %w", err)
	}
	if err := json.Unmarshal([]byte(meta), &e.Meta); err != nil {
		return Entry{}, fmt.Errorf("token: decode meta: %w", err)
	}
	return e, nil
}

// FromHeader extracts a presented token from X-Vault-Token or an
// Authorization: Bearer header.
func FromHeader(xVaultToken, authorization string) secret.Value {
	if xVaultToken != "" {
		return secret.FromString(strings.TrimSpace(xVaultToken))
	}
	if v, ok := strings.CutPrefix(authorization, "Bearer "); ok {
		return secret.FromString(strings.TrimSpace(v))
	}
	return secret.Value{}
}

func hash(tok secret.Value) string {
	h := sha256.Sum256(tok.Reveal())
	return hex.EncodeToString(h[:])
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// random returns n characters drawn uniformly from alphabet (rejection
// sampling avoids modulo bias).
func random(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4*62
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out)
}

// Empty reports whether no token has ever been created (first start).
func (s *Store) Empty(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n); err != nil {
		return false, err
	}
	return n == 0, nil
}

// Random returns n random base62 characters (Vault's token and lease ids).
func Random(n int) string { return random(n) }
