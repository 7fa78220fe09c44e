package resource

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// Sealer encrypts values at rest (internal/seal.Seal).
type Sealer interface {
	Encrypt(plaintext []byte, aad string) ([]byte, error)
	Decrypt(ciphertext []byte, aad string) ([]byte, error)
}

// Auditor records changes before they are made (internal/audit.Log).
type Auditor interface {
	Append(ctx context.Context, typ string, body any) (audit.Record, error)
}

// Deps is what every domain service is built on.
type Deps struct {
	DB    *store.DB
	Seal  Sealer
	Audit Auditor
	Authz access.Authorizer
	Now   func() time.Time
}

// Authorize checks the caller's capability on path; every exported domain
// method calls it first.
func (d Deps) Authorize(ctx context.Context, path, capability string) error {
	return d.Authz.Authorize(ctx, path, capability)
}

// Record appends an audit record before a change is made, so nothing
// changes that the log does not show; when the change then fails, the
// record stands for the attempt.
func (d Deps) Record(ctx context.Context, typ string, body map[string]any) error {
	w, err := WriterOf(ctx)
	if err != nil {
		return err
	}
	body["by"] = w
	if _, err := d.Audit.Append(ctx, typ, body); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return nil
}

// NotFound hides store.ErrNotFound's generic text behind a specific message.
func NotFound(err error, format string, args ...any) error {
	if store.IsNotFound(err) {
		return fail.NotFoundf(format, args...)
	}
	return err
}

// Conflict does the same for uniqueness conflicts.
func Conflict(err error, format string, args ...any) error {
	if store.IsConflict(err) {
		return fail.Wrap(fail.Conflict, err, fmt.Sprintf(format, args...))
	}
	return err
}

// Affected turns "no row changed" into not found.
func Affected(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fail.NotFoundf(format, args...)
	}
	return nil
}

// Swapped turns "no row changed" by a compare-and-swap into a conflict.
func Swapped(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fail.Conflictf(format, args...)
	}
	return nil
}

// ScanAll scans every row with scan and closes rows.
func ScanAll[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// B2I stores a bool as the integer both dialects accept.
func B2I(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
