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
	"hash"
	"runtime"
	"slices"
	"sync"
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
	macs sync.Pool // of HMAC-SHA256 hashes keyed with key, which every request's records use
	now  func() time.Time
	page int // records per List call in Verify

	writer chan struct{} // held by the one appender writing a group
	mu     sync.Mutex
	queue  []*pending // records waiting for the next group
	// flushing is closed once the last durable group is on disk (nil
	// before the first); guarded by writer.
	flushing chan struct{}
	// head is the chain's last record as this Log wrote it, so that a
	// group need not read it back; guarded by writer. Should another node
	// or process have appended since, the group's first insert collides on
	// seq (the primary key) and the group is written again from the head
	// read back.
	head struct {
		seq   int64
		hash  string
		known bool
	}
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
	l := &Log{db: db, key: secret.New(hmacKey.Reveal()), now: now, page: maxPage, writer: make(chan struct{}, 1)}
	l.macs.New = func() any { return hmac.New(sha256.New, l.key.Reveal()) }
	return l
}

const hmacPrefix = "hmac-sha256:"

// HMAC returns "hmac-sha256:" + hex(HMAC-SHA256(key, v)): what a body holds
// in place of a secret an auditor must be able to match.
func (l *Log) HMAC(v secret.Value) string {
	m := l.macs.Get().(hash.Hash) // keyed; Reset leaves it so
	m.Reset()
	m.Write(v.Reveal())
	var sum [sha256.Size]byte
	var out [len(hmacPrefix) + 2*sha256.Size]byte
	copy(out[:], hmacPrefix)
	hex.Encode(out[len(hmacPrefix):], m.Sum(sum[:0]))
	l.macs.Put(m)
	return string(out[:])
}

// Append writes a record of type typ whose body is body marshalled with
// encoding/json. It returns the record only once it is committed and on
// disk (fsynced); on any error nothing was written and the caller must not
// go on to issue anything.
//
// Concurrent appends are group-committed: whoever finds no write under way
// writes every record queued so far in one durable transaction, one chain
// step each, and the rest wait for it. One fsync thus vouches for many
// records, and none of their callers goes on before it.
func (l *Log) Append(ctx context.Context, typ string, body any) (Record, error) {
	return l.append(ctx, typ, body, true)
}

// AppendBefore writes a record like Append, but returns once it is
// committed, before it is on disk: it becomes durable with the next record
// Append writes, on any node (a log's writes reach the disk in order). It
// is for a record that only precedes a durable one, such as the record of a
// request whose response is then appended: the request is refused if the
// record cannot be written, and nothing leaves before its response record,
// and with it this one, is on disk.
func (l *Log) AppendBefore(ctx context.Context, typ string, body any) (Record, error) {
	return l.append(ctx, typ, body, false)
}

// Entry is a record to append: its type and its body, marshalled with
// encoding/json.
type Entry struct {
	Type string
	Body any
}

// AppendAll writes entries as consecutive records, together with what
// write writes (when write is not nil), all in one transaction: all of it
// commits, or none. It returns like Append, once on disk.
//
// It is for a response: its request's record may go with it when handling
// the request changed nothing, and what the response issues (a token)
// then exists exactly when the response's record does. write may run more
// than once (a failed group is written again one caller at a time), each
// time in a new transaction; when the records are refused because of its
// error, that error is what AppendAll returns, wrapped.
func (l *Log) AppendAll(ctx context.Context, entries []Entry, write func(context.Context, *store.Tx) error) ([]Record, error) {
	return l.add(ctx, entries, true, write)
}

func (l *Log) append(ctx context.Context, typ string, body any, durable bool) (Record, error) {
	recs, err := l.add(ctx, []Entry{{typ, body}}, durable, nil)
	if err != nil {
		return Record{}, err
	}
	return recs[0], nil
}

func (l *Log) add(ctx context.Context, entries []Entry, durable bool, write func(context.Context, *store.Tx) error) ([]Record, error) {
	if len(entries) == 0 {
		return nil, fail.Invalidf("audit: no record to append")
	}
	recs := make([]Record, len(entries))
	for i, e := range entries {
		if err := validType(e.Type); err != nil {
			return nil, err
		}
		b, err := json.Marshal(e.Body)
		if err != nil {
			return nil, fmt.Errorf("audit: marshal %s body: %w", e.Type, err)
		}
		recs[i] = Record{Type: e.Type, Body: b}
	}
	typ := entries[len(entries)-1].Type
	if err := ctx.Err(); err != nil { // a caller that gave up records nothing
		return nil, fmt.Errorf("audit: append %s: %w", typ, err)
	}
	p := &pending{recs: recs, durable: durable, with: write, done: make(chan struct{})}
	l.mu.Lock()
	l.queue = append(l.queue, p)
	l.mu.Unlock()
	for !l.writeFor(ctx, p) {
	}
	if p.err != nil {
		return nil, fmt.Errorf("audit: append %s: %w", typ, p.err)
	}
	return p.recs, nil
}

// writeFor waits until p is settled, by another appender's group or by
// writing a group itself, and reports whether it is. It is not when this
// caller wrote a group of other records only: then it must try again.
//
// While a group waits for the disk, the writer commits only the records
// that need not wait for it (they need no fsync of their own) and leaves
// the others queued; once the disk is done, they go in one group, with
// whatever joined them meanwhile. So durable records gather during an
// fsync, and the next fsync covers them all.
func (l *Log) writeFor(ctx context.Context, p *pending) bool {
	select {
	case <-p.done: // settled by another appender's group
		return true
	case l.writer <- struct{}{}:
	}
	// Let the requests running now queue their records too: a group of
	// several costs little more to commit than a group of one.
	runtime.Gosched()
	group := l.take(p, l.flushing)
	if group == nil && !l.isTaken(p) { // only durable records queued, the disk busy
		<-l.flushing
		group = l.take(p, nil)
	}
	var settle func()
	if group != nil {
		var flushed chan struct{}
		settle, flushed = l.write(context.WithoutCancel(ctx), group) // one caller's end must not fail the others' records
		if flushed != nil {
			l.flushing = flushed
		}
	}
	// The next group commits while this one waits for the disk.
	<-l.writer
	if settle != nil {
		settle()
	}
	if !l.isTaken(p) {
		return false
	}
	<-p.done
	return true
}

// take removes from the queue and returns the next group: every queued
// record, or, while flushing is open (a group waits for the disk), those
// that need not wait for it. It returns nil when p is already in a group.
func (l *Log) take(p *pending, flushing chan struct{}) []*pending {
	busy := false
	if flushing != nil {
		select {
		case <-flushing:
		default:
			busy = true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.taken {
		return nil
	}
	var group, rest []*pending
	for _, q := range l.queue {
		if busy && q.durable {
			rest = append(rest, q)
			continue
		}
		q.taken = true
		group = append(group, q)
	}
	l.queue = rest
	return group
}

func (l *Log) isTaken(p *pending) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return p.taken
}

// pending is one caller's records waiting for their group's commit.
type pending struct {
	recs    []Record // in order; committed all together or not at all
	durable bool     // its caller waits for the disk
	taken   bool     // in a group being written; guarded by Log.mu
	err     error
	done    chan struct{} // closed once recs or err is final
	// with writes, in the records' transaction, what commits with them;
	// may be nil.
	with func(context.Context, *store.Tx) error
}

// write commits group in one transaction, in order, or, should that fail,
// each record in one of its own, so that a record the database refuses
// fails only its own caller. It returns what settles every member, for the
// caller to run once it let the next group go: that waits for the disk
// first when any member's caller does, and then closes flushed (nil when
// nobody waits for the disk).
func (l *Log) write(ctx context.Context, group []*pending) (settle func(), flushed chan struct{}) {
	durable := slices.ContainsFunc(group, func(p *pending) bool { return p.durable })
	start := time.Now()
	recs, wait, err := l.commit(ctx, group, durable)
	switch {
	case err == nil:
		if durable {
			flushed = make(chan struct{})
		}
		return func() {
			err := wait()
			if flushed != nil {
				close(flushed)
			}
			if err != nil {
				l.settle(group, nil, err)
				return
			}
			l.settle(group, recs, nil)
			if l.observe != nil {
				l.observe(len(group), time.Since(start))
			}
		}, flushed
	case len(group) == 1:
		return func() { l.settle(group, nil, err) }, nil
	}
	settles := make([]func(), len(group))
	for i, p := range group {
		var f chan struct{}
		settles[i], f = l.write(ctx, []*pending{p})
		if f != nil {
			flushed = f // the last: the fsync it waits for covers the others
		}
	}
	return func() {
		for _, s := range settles {
			s()
		}
	}, flushed
}

// settle gives every member of group its records, or err.
func (l *Log) settle(group []*pending, recs [][]Record, err error) {
	for i, p := range group {
		if err != nil {
			p.err = err
		} else {
			p.recs = recs[i]
		}
		close(p.done)
	}
}

// commit writes group in one transaction: all of it, or none. When durable,
// wait returns once the commit is on disk; otherwise it returns at once.
func (l *Log) commit(ctx context.Context, group []*pending, durable bool) (recs [][]Record, wait func() error, err error) {
	recs, wait, err = l.commitFrom(ctx, group, durable, l.head.known)
	if err != nil && l.head.known && store.IsConflict(err) { // another appender moved the head
		recs, wait, err = l.commitFrom(ctx, group, durable, false)
	}
	if err != nil {
		l.head.known = false
		return nil, nil, err
	}
	mine := recs[len(recs)-1]
	last := mine[len(mine)-1]
	l.head.seq, l.head.hash, l.head.known = last.Seq, last.Hash, true
	return recs, wait, nil
}

// commitFrom is commit, chaining from the remembered head when cached and
// from the head read back otherwise.
func (l *Log) commitFrom(ctx context.Context, group []*pending, durable, cached bool) ([][]Record, func() error, error) {
	recs := make([][]Record, len(group))
	write := func(tx *store.Tx) error {
		// Serialise appenders on every node so two never chain from the
		// same head; the primary key on seq backs this up.
		if err := tx.Lock(ctx, "audit"); err != nil {
			return err
		}
		seq, prev := l.head.seq, l.head.hash
		if !cached {
			seq, prev = 0, genesisHash
			err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
			if err != nil && !store.IsNotFound(err) {
				return err
			}
		}
		now := store.Stored(l.now()) // as read back, so the hash matches
		for i, p := range group {
			if p.with != nil {
				if err := p.with(ctx, tx); err != nil {
					return err
				}
			}
			recs[i] = make([]Record, len(p.recs))
			for j, q := range p.recs {
				seq++
				r := Record{Seq: seq, Time: now, Type: q.Type, Body: q.Body, PrevHash: prev}
				r.Hash = r.chainHash()
				if _, err := tx.Exec(ctx,
					`INSERT INTO audit_log (seq, time, type, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)`,
					r.Seq, store.Nanos(r.Time), r.Type, string(r.Body), r.PrevHash, r.Hash); err != nil {
					return err
				}
				recs[i][j], prev = r, r.Hash
			}
		}
		return nil
	}
	if !durable {
		return recs, func() error { return nil }, l.db.Tx(ctx, write)
	}
	wait, err := l.db.DurableTxDeferred(ctx, write)
	return recs, wait, err
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
