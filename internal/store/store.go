// Package store owns runcred's database handle: opening SQLite or PostgreSQL,
// the dialect differences between them, embedded numbered migrations, and the
// mapping of driver errors to domain errors. Domain packages write their own
// SQL against it with `?` placeholders, which the dialect rebinds.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite" (pure Go)
)

// DB is a handle on one runcred database. On SQLite, writes go through a
// single connection (one writer) and reads through a small pool; on
// PostgreSQL both are the same pool.
type DB struct {
	dialect Dialect
	read    *sql.DB
	write   *sql.DB
	desc    string // safe description for logs (no password)

	readStmts, writeStmts *stmtCache // SQLite only; nil on PostgreSQL

	stmts atomic.Int64 // statements run, for Statements

	wal *walSync // SQLite only: DurableTx's fsync of the write-ahead log
}

// Open connects to dsn and runs pending migrations. A dsn starting with
// postgres:// or postgresql:// selects PostgreSQL; anything else is a SQLite
// file path (an optional "sqlite:" prefix is stripped).
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, 0); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// OpenAt opens dsn with migrations applied up to version only, as a
// runcred of that schema version left it: for tests of a migration, which
// fill such a database and then Open it.
func OpenAt(ctx context.Context, dsn string, version int) (*DB, error) {
	db, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, version); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func open(dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		p, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		p.SetMaxOpenConns(16)
		p.SetMaxIdleConns(16)
		return &DB{dialect: Postgres, read: p, write: p, desc: redactURL(dsn)}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return nil, fmt.Errorf("store: empty database path")
	}
	if err := makePrivate(path); err != nil {
		return nil, err
	}
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1) // one writer: SQLite serialises writes anyway, this avoids SQLITE_BUSY inside the process
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	r.SetMaxOpenConns(4)
	return &DB{dialect: SQLite, read: r, write: w, desc: "sqlite:" + path, wal: newWALSync(path), readStmts: newStmtCache(r), writeStmts: newStmtCache(w)}, nil
}

// Close releases the connections.
func (db *DB) Close() error {
	if db.wal != nil {
		db.wal.close()
	}
	db.readStmts.close()
	db.writeStmts.close()
	err := db.write.Close()
	if db.read != db.write {
		if e := db.read.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Statements is how many SQL statements this handle has run (queries and
// writes, in or out of transactions; not BEGIN or COMMIT). Tests and
// benchmarks use it to prove that work over many rows is set-based.
func (db *DB) Statements() int64 { return db.stmts.Load() }

// Dialect says which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// String describes the database without credentials.
func (db *DB) String() string { return db.desc }

// Ping checks that the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error { return mapErr(db.write.PingContext(ctx)) }

// QueryRow runs a read-only query returning at most one row.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *Row {
	db.stmts.Add(1)
	if st := db.readStmts.get(ctx, q); st != nil {
		return &Row{row: st.QueryRowContext(ctx, args...)}
	}
	return &Row{row: db.read.QueryRowContext(ctx, db.dialect.Rebind(q), args...)}
}

// Query runs a read-only query.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	db.stmts.Add(1)
	if st := db.readStmts.get(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, mapErr(err)
	}
	rows, err := db.read.QueryContext(ctx, db.dialect.Rebind(q), args...)
	return rows, mapErr(err)
}

// Exec runs one statement in its own write transaction.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	db.stmts.Add(1)
	if st := db.writeStmts.get(ctx, q); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, mapErr(err)
	}
	res, err := db.write.ExecContext(ctx, db.dialect.Rebind(q), args...)
	return res, mapErr(err)
}

// Tx runs fn in a write transaction and commits if fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(*Tx) error) error {
	stx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	tx := &Tx{tx: stx, dialect: db.dialect, stmts: db.writeStmts, count: &db.stmts}
	defer func() {
		for _, q := range tx.missed {
			db.writeStmts.get(ctx, q)
		}
	}()
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	return mapErr(stx.Commit())
}

// DurableTx runs fn in a write transaction like Tx, and returns only once
// the commit is on disk: a power cut afterwards cannot lose it. On SQLite,
// whose other writes run with synchronous=NORMAL (in WAL mode a commit
// survives a crash of the process but may be lost with the machine), it
// then waits for an fsync of the write-ahead log, which covers every commit
// before it and is shared by the durable transactions that commit while
// one is under way (walSync). On PostgreSQL the transaction asks for
// synchronous_commit itself, whatever the server's default.
func (db *DB) DurableTx(ctx context.Context, fn func(*Tx) error) error {
	wait, err := db.DurableTxDeferred(ctx, fn)
	if err != nil {
		return err
	}
	return wait()
}

// DurableTxDeferred is DurableTx split in two: it returns once fn's
// transaction has committed, with the wait for the disk as a function the
// caller must call (and heed) before it counts on the commit. A caller that
// runs one such transaction at a time lets the next commit while this one's
// fsync is under way. On PostgreSQL the commit itself waits for the disk
// and wait returns nil.
func (db *DB) DurableTxDeferred(ctx context.Context, fn func(*Tx) error) (wait func() error, err error) {
	if db.dialect == Postgres {
		err := db.Tx(ctx, func(tx *Tx) error {
			if _, err := tx.tx.ExecContext(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
				return mapErr(err)
			}
			return fn(tx)
		})
		if err != nil {
			return nil, err
		}
		return func() error { return nil }, nil
	}
	if err := db.Tx(ctx, fn); err != nil {
		return nil, err
	}
	return db.wal.wait, nil
}

// Tx is a write transaction.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   *stmtCache
	missed  []string // statements to prepare once the transaction is over
	count   *atomic.Int64
}

// stmt returns the cached statement for q bound to this transaction. It
// never prepares one here: on SQLite the transaction holds the only write
// connection, so preparing on the pool would wait for it forever. A miss is
// prepared after the transaction ends (DB.Tx), for next time.
func (tx *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	tx.count.Add(1) // every caller runs q once
	if tx.stmts == nil {
		return nil
	}
	if st := tx.stmts.cached(q); st != nil {
		return tx.tx.StmtContext(ctx, st)
	}
	tx.missed = append(tx.missed, q)
	return nil
}

func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, q); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, mapErr(err)
	}
	res, err := tx.tx.ExecContext(ctx, tx.dialect.Rebind(q), args...)
	return res, mapErr(err)
}

func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *Row {
	if st := tx.stmt(ctx, q); st != nil {
		return &Row{row: st.QueryRowContext(ctx, args...)}
	}
	return &Row{row: tx.tx.QueryRowContext(ctx, tx.dialect.Rebind(q), args...)}
}

func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, mapErr(err)
	}
	rows, err := tx.tx.QueryContext(ctx, tx.dialect.Rebind(q), args...)
	return rows, mapErr(err)
}

// Lock serialises transactions that name the same lock until this one ends,
// across every node sharing the database. SQLite needs nothing: its write
// transactions already exclude each other.
func (tx *Tx) Lock(ctx context.Context, name string) error {
	if tx.dialect != Postgres {
		return nil
	}
	tx.count.Add(1)
	_, err := tx.tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "runcred:"+name)
	return mapErr(err)
}

// Row wraps sql.Row so Scan returns domain errors.
type Row struct{ row *sql.Row }

func (r *Row) Scan(dest ...any) error { return mapErr(r.row.Scan(dest...)) }

// Strings reads a one-column result of text values and closes rows.
func Strings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}
