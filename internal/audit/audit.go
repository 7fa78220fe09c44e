// Package audit owns runcred's audit log: an append-only table of records,
// each carrying the SHA-256 of its predecessor, so that editing, deleting or
// reordering a stored record is detected by Verify. Every component that
// issues something (tokens, credentials, broker responses) appends first.
//
// The log fails closed: when a record cannot be written, Append returns an
// error and the caller must issue nothing, so nothing leaves runcred that the
// log does not show.
//
// Bodies are stored as written and readable by whoever reads the database,
// so they must never hold a secret. A secret.Value marshals as "[redacted]";
// where an auditor must be able to match a value (a token, a secret ID), put
// Log.HMAC(v) in the body instead. The HMAC key is runcred's own, so the same
// digest can later be computed on request (Vault's sys/audit-hash) without
// the log revealing the value.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Record is one entry of the log.
type Record struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"` // UTC; stored as unix nanoseconds
	Type     string          `json:"type"` // e.g. "identity.mint"
	Body     json.RawMessage `json:"body"`
	PrevHash string          `json:"prev_hash"` // hex; the first record's is genesisHash
	Hash     string          `json:"hash"`
}

// genesisHash is the prev_hash of the first record.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

const (
	maxTypeLen = 64
	maxPage    = 1000 // most records List and Tail return at once
)

// Log appends to and reads the audit log of one database. It is safe for
// concurrent use, also by several Logs (or server nodes) on one database.
type Log struct {
	db   *store.DB
	key  secret.Value
	now  func() time.Time
	page int // records per List call in Verify

	observe func(batch int, d time.Duration) // set before use; see Observe
}

// Observe makes every committed append report its batch size (records
// committed together) and how long it took, for the server's metrics. It
// must be called before the log is used.
func (l *Log) Observe(fn func(batch int, d time.Duration)) { l.observe = fn }

// New returns the log stored in db. hmacKey keys HMAC; it must not be empty
// (New panics, as for any wiring bug found at start-up). now defaults to
// time.Now.
func New(db *store.DB, hmacKey secret.Value, now func() time.Time) *Log {
	if hmacKey.Empty() {
		panic("audit: empty HMAC key")
	}
	if now == nil {
		now = time.Now
	}
	return &Log{db: db, key: secret.New(hmacKey.Reveal()), now: now, page: maxPage}
}

// HMAC returns "hmac-sha256:" + hex(HMAC-SHA256(key, v)): what a body holds
// in place of a secret an auditor must be able to match.
func (l *Log) HMAC(v secret.Value) string {
	m := hmac.New(sha256.New, l.key.Reveal())
	m.Write(v.Reveal())
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Append writes a record of type typ whose body is body marshalled with
// encoding/json. It returns the record only once it is committed; on any
// error nothing was written and the caller must not go on to issue anything.
func (l *Log) Append(ctx context.Context, typ string, body any) (Record, error) {
	if err := validType(typ); err != nil {
		return Record{}, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return Record{}, fmt.Errorf("audit: marshal %s body: %w", typ, err)
	}
	var rec Record
	start := time.Now()
	err = l.db.Tx(ctx, func(tx *store.Tx) error {
		// Serialise appenders on every node so two never chain from the
		// same head; the primary key on seq backs this up.
		if err := tx.Lock(ctx, "audit"); err != nil {
			return err
		}
		seq, prev := int64(0), genesisHash
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !store.IsNotFound(err) {
			return err
		}
		rec = Record{
			Seq:      seq + 1,
			Time:     store.Stored(l.now()), // as read back, so the hash matches
			Type:     typ,
			Body:     b,
			PrevHash: prev,
		}
		rec.Hash = rec.chainHash()
		_, err = tx.Exec(ctx,
			`INSERT INTO audit_log (seq, time, type, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)`,
			rec.Seq, store.Nanos(rec.Time), rec.Type, string(rec.Body), rec.PrevHash, rec.Hash)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("audit: append %s: %w", typ, err)
	}
	if l.observe != nil {
		l.observe(1, time.Since(start))
	}
	return rec, nil
}

// validType accepts short names of [a-z0-9._-], such as "identity.mint".
func validType(typ string) error {
	if typ == "" || len(typ) > maxTypeLen {
		return fail.Invalidf("audit: record type must be 1 to %d characters", maxTypeLen)
	}
	for _, c := range []byte(typ) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fail.Invalidf("audit: record type %q may hold only a-z, 0-9, '.', '_' and '-'", typ)
		}
	}
	return nil
}

// List returns up to limit records with seq > afterSeq in ascending order. A
// limit of zero or less, or above 1000, means 1000.
func (l *Log) List(ctx context.Context, afterSeq int64, limit int) ([]Record, error) {
	if limit <= 0 || limit > maxPage {
		limit = maxPage
	}
	rows, err := l.db.Query(ctx,
		`SELECT seq, time, type, body, prev_hash, hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	recs, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return recs, nil
}

// Tail returns the last n records (at most 1000) in ascending order.
func (l *Log) Tail(ctx context.Context, n int) ([]Record, error) {
	if n <= 0 {
		return nil, nil
	}
	n = min(n, maxPage)
	rows, err := l.db.Query(ctx,
		`SELECT seq, time, type, body, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("audit: tail: %w", err)
	}
	recs, err := scanRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("audit: tail: %w", err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs, nil
}

func scanRecords(rows *sql.Rows) ([]Record, error) {
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		var (
			r    Record
			ns   int64
			body string
		)
		if err := rows.Scan(&r.Seq, &ns, &r.Type, &body, &r.PrevHash, &r.Hash); err != nil {
			return nil, err
		}
		r.Time = store.Time(ns)
		r.Body = json.RawMessage(body)
		recs = append(recs, r)
	}
	return recs, rows.Err()
}
