package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/store"
)

// Sealer encrypts what the issuer stores (its private keys).
type Sealer interface {
	Encrypt(plaintext []byte, aad string) ([]byte, error)
	Decrypt(ciphertext []byte, aad string) ([]byte, error)
}

// keyringAAD binds the sealed keyring to its row: it cannot be decrypted as anything else.
const keyringAAD = "runcred/identity/keyring"

// keyStore persists the keyring as one sealed document with a version for
// compare-and-swap, so several nodes sharing a database change it safely.
type keyStore struct {
	db   *store.DB
	seal Sealer
}

func (s *keyStore) version(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRow(ctx, `SELECT version FROM keyring WHERE id = 1`).Scan(&v)
	if store.IsNotFound(err) {
		return 0, nil
	}
	return v, err
}

// load returns the stored keyring; Version 0 means none is stored yet.
func (s *keyStore) load(ctx context.Context) (Keyring, error) {
	var (
		v      int64
		sealed []byte
	)
	err := s.db.QueryRow(ctx, `SELECT version, sealed FROM keyring WHERE id = 1`).Scan(&v, &sealed)
	if store.IsNotFound(err) {
		return Keyring{}, nil
	}
	if err != nil {
		return Keyring{}, fmt.Errorf("identity: load keyring: %w", err)
	}
	plain, err := s.seal.Decrypt(sealed, keyringAAD)
	if err != nil {
		return Keyring{}, fmt.Errorf("identity: unseal keyring: %w", err)
	}
	var r Keyring
	if err := json.Unmarshal(plain, &r); err != nil {
		return Keyring{}, fmt.Errorf("identity: decode keyring: %w", err)
	}
	for i := range r.Keys {
		if err := r.Keys[i].parse(); err != nil {
			return Keyring{}, err
		}
	}
	r.Version = v
	return r, nil
}

var errRaced = errors.New("identity: keyring changed concurrently")

// update applies fn to the freshest keyring and stores the result if fn
// changed it, retrying when another node changed it first. fn may run more
// than once, so it must not do slow work such as generating keys.
func (s *keyStore) update(ctx context.Context, now time.Time, fn func(old Keyring) (Keyring, bool, error)) (Keyring, error) {
	for attempt := 0; attempt < 10; attempt++ {
		old, err := s.load(ctx)
		if err != nil {
			return Keyring{}, err
		}
		next, changed, err := fn(old)
		if err != nil || !changed {
			return old, err
		}
		err = s.swap(ctx, old.Version, next, now)
		if errors.Is(err, errRaced) {
			continue
		}
		if err != nil {
			return Keyring{}, err
		}
		next.Version = old.Version + 1
		return next, nil
	}
	return Keyring{}, fmt.Errorf("identity: keyring kept changing underneath; gave up")
}

func (s *keyStore) swap(ctx context.Context, from int64, r Keyring, now time.Time) error {
	plain, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sealed, err := s.seal.Encrypt(plain, keyringAAD)
	if err != nil {
		return fmt.Errorf("identity: seal keyring: %w", err)
	}
	if from == 0 {
		_, err := s.db.Exec(ctx, `INSERT INTO keyring (id, version, sealed, updated_at) VALUES (1, 1, ?, ?)`, sealed, store.Nanos(now))
		if store.IsConflict(err) {
			return errRaced
		}
		return err
	}
	res, err := s.db.Exec(ctx, `UPDATE keyring SET version = ?, sealed = ?, updated_at = ? WHERE id = 1 AND version = ?`,
		from+1, sealed, store.Nanos(now), from)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errRaced
	}
	return nil
}
