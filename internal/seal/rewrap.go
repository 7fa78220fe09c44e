package seal

import (
	"context"
	"errors"
	"fmt"

	"github.com/runcred/runcred/internal/store"
)

// Rewrap re-encrypts every data key under newRoot, in one transaction: either
// all keys move to the new root key or none do. Data and secrets are not
// touched, since they are sealed by the data keys. Running nodes keep working
// with the keys they hold but must restart with newRoot to load new ones.
func Rewrap(ctx context.Context, db *store.DB, oldRoot, newRoot RootKey) (n int, err error) {
	if !oldRoot.valid() || !newRoot.valid() {
		return 0, errors.New("seal: rewrap needs both the old and the new root key")
	}
	if oldRoot.ID() == newRoot.ID() {
		return 0, fmt.Errorf("seal: the new root key is the old one (id %s)", oldRoot.ID())
	}
	err = db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, lockName); err != nil {
			return fmt.Errorf("seal: lock data keys: %w", err)
		}
		rows, err := readKeys(ctx, tx.Query)
		if err != nil {
			return err
		}
		// Unwrap all before writing any, so a bad row fails before the
		// first update rather than relying on rollback alone.
		rewrapped := make([][]byte, len(rows))
		for i, r := range rows {
			dk, err := unwrapRow(oldRoot, r)
			if err != nil {
				return err
			}
			rewrapped[i], err = wrap(newRoot, r.version, dk)
			clear(dk)
			if err != nil {
				return err
			}
		}
		for i, r := range rows {
			res, err := tx.Exec(ctx, `UPDATE seal_keys SET root_key_id = ?, wrapped = ? WHERE version = ? AND root_key_id = ?`,
				newRoot.ID(), rewrapped[i], int64(r.version), oldRoot.ID())
			if err != nil {
				return fmt.Errorf("seal: rewrap data key v%d: %w", r.version, err)
			}
			if c, err := res.RowsAffected(); err != nil || c != 1 {
				return fmt.Errorf("seal: rewrap data key v%d: the row changed concurrently", r.version)
			}
		}
		n = len(rows)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
