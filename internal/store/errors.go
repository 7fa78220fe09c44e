package store

import (
	"database/sql"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/runcred/runcred/internal/fail"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound and ErrConflict are what domain code tests for; both carry a
// fail kind so transports render them without knowing about the store.
var (
	ErrNotFound = fail.NotFoundf("not found")
	ErrConflict = fail.Conflictf("already exists or changed concurrently")
)

// mapErr is the one place driver errors become domain errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "23505": // unique_violation
			return fail.Wrap(fail.Conflict, err, ErrConflict.Error())
		case pg.Code == "40001" || pg.Code == "40P01": // serialization failure, deadlock
			return fail.Wrap(fail.Conflict, err, ErrConflict.Error())
		case strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01": // connection, admin shutdown
			return fail.Wrap(fail.Unavailable, err, "database unavailable")
		}
		return err
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fail.Wrap(fail.Conflict, err, ErrConflict.Error())
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fail.Wrap(fail.Unavailable, err, "database busy")
		}
	}
	return err
}

// IsNotFound reports whether err means no row matched.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is a uniqueness or concurrency conflict.
func IsConflict(err error) bool { return fail.Is(err, fail.Conflict) }
