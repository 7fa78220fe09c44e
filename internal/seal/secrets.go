package seal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Secret returns the named secret, creating it with generate the first time
// any node asks. Components use it for keys they own (the audit HMAC key, …).
// When two nodes race, the first insert wins and both return its value.
func (s *Seal) Secret(ctx context.Context, name string, generate func() ([]byte, error)) (secret.Value, error) {
	if name == "" {
		return secret.Value{}, errors.New("seal: secret name is empty")
	}
	aad := "runcred/secrets/" + name
	v, err := s.readSecret(ctx, name, aad)
	if err == nil || !store.IsNotFound(err) {
		return v, err
	}
	if generate == nil {
		return secret.Value{}, fmt.Errorf("seal: secret %q does not exist", name)
	}
	pt, err := generate()
	if err != nil {
		return secret.Value{}, fmt.Errorf("seal: generate secret %q: %w", name, err)
	}
	sealed, err := s.Encrypt(pt, aad)
	if err != nil {
		return secret.Value{}, err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, ?)`, name, sealed, store.Nanos(time.Now()))
	switch {
	case err == nil:
		return secret.New(pt), nil
	case store.IsConflict(err):
		return s.readSecret(ctx, name, aad) // another node won; use theirs
	default:
		return secret.Value{}, fmt.Errorf("seal: store secret %q: %w", name, err)
	}
}

// readSecret returns an error satisfying store.IsNotFound when the row is absent.
func (s *Seal) readSecret(ctx context.Context, name, aad string) (secret.Value, error) {
	var sealed []byte
	if err := s.db.QueryRow(ctx, `SELECT sealed FROM secrets WHERE name = ?`, name).Scan(&sealed); err != nil {
		if store.IsNotFound(err) {
			return secret.Value{}, err
		}
		return secret.Value{}, fmt.Errorf("seal: read secret %q: %w", name, err)
	}
	pt, err := s.Decrypt(sealed, aad)
	if err != nil {
		return secret.Value{}, fmt.Errorf("%w (secret %q)", err, name)
	}
	v := secret.New(pt)
	clear(pt)
	return v, nil
}
