// Package token stores runcred's API tokens (Vault-style service tokens): the
// root token `runcred dev` writes out, and later every token the broker
// issues. Only a SHA-256 of each token is stored, so a copy of the database
// yields no usable token.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	Accessor    string
	ParentID    string // hashed id of the parent token; empty for orphans
	Policies    []string
	Meta        map[string]string
	DisplayName string
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	id          string
}

// Caller turns the entry into the identity a request runs as.
func (e Entry) Caller() access.Caller {
	return access.Caller{Accessor: e.Accessor, DisplayName: e.DisplayName, Policies: e.Policies, Meta: e.Meta}
}

// Store keeps tokens in the database.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns a Store on db.
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// Create issues a new token described by e (Accessor and CreatedAt are filled in).
func (s *Store) Create(ctx context.Context, e Entry) (secret.Value, Entry, error) {
	tok := secret.FromString(Prefix + random(24))
	e.id = hash(tok)
	e.Accessor = random(18)
	e.CreatedAt = s.now().UTC().Truncate(time.Second)
	if e.Meta == nil {
		e.Meta = map[string]string{}
	}
	pol, _ := json.Marshal(e.Policies)
	meta, _ := json.Marshal(e.Meta)
	var exp any
	if !e.ExpiresAt.IsZero() {
		exp = e.ExpiresAt.Unix()
	}
	var parent any
	if e.ParentID != "" {
		parent = e.ParentID
	}
	_, err := s.db.Exec(ctx, `INSERT INTO tokens (id, accessor, parent_id, policies, meta, display_name, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.id, e.Accessor, parent, string(pol), string(meta), e.DisplayName, e.CreatedAt.Unix(), exp)
	if err != nil {
		return secret.Value{}, Entry{}, fmt.Errorf("token: create: %w", err)
	}
	return tok, e, nil
}

// Lookup returns the live entry for tok, or an Unauthenticated error that
// does not say whether the token never existed or has expired.
func (s *Store) Lookup(ctx context.Context, tok secret.Value) (Entry, error) {
	bad := fail.Unauthenticatedf("permission denied")
	if tok.Empty() || len(tok.Reveal()) > MaxLen {
		return Entry{}, bad
	}
	id := hash(tok)
	var (
		e                  Entry
		parent             *string
		pol, meta, storeID string
		created            int64
		exp                *int64
	)
	err := s.db.QueryRow(ctx, `SELECT id, accessor, parent_id, policies, meta, display_name, created_at, expires_at
		FROM tokens WHERE id = ?`, id).Scan(&storeID, &e.Accessor, &parent, &pol, &meta, &e.DisplayName, &created, &exp)
	if store.IsNotFound(err) {
		return Entry{}, bad
	}
	if err != nil {
		return Entry{}, err
	}
	// The row was found by its hash; compare once more in constant time so
	// no lookup path depends on a variable-time comparison of secrets.
	if subtle.ConstantTimeCompare([]byte(storeID), []byte(id)) != 1 {
		return Entry{}, bad
	}
	e.id, e.CreatedAt = storeID, time.Unix(created, 0).UTC()
	if parent != nil {
		e.ParentID = *parent
	}
	if exp != nil {
		e.ExpiresAt = time.Unix(*exp, 0).UTC()
		if !s.now().Before(e.ExpiresAt) {
			return Entry{}, bad
		}
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
