// Package seal owns encryption at rest: every secret runcred stores is
// sealed here with AES-256-GCM under a data key, and every data key is
// wrapped by the root key, which lives in a file and never in the database.
// It owns the seal_keys table (versioned, wrapped data keys) and the secrets
// table (small named secrets), data key rotation, and rewrapping the data
// keys under a new root key.
package seal

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/store"
)

// Ciphertext layout: format (1 byte) | data key version (4 bytes, big
// endian) | nonce (12) | GCM ciphertext | tag (16). The 5-byte header is
// part of the GCM additional data, so no byte of it can change unnoticed.
const (
	format     = 1
	headerSize = 5
	nonceSize  = 12
	tagSize    = 16
	dataKeyLen = 32
)

var errDamaged = errors.New("seal: ciphertext is damaged or was sealed for another purpose")

// Seal encrypts and decrypts with the data keys of one database. It is safe
// for concurrent use.
type Seal struct {
	db   *store.DB
	root RootKey

	mu     sync.RWMutex
	keys   map[uint32]opaque[cipher.AEAD] // every data key, by version; never shrinks
	latest uint32                         // the version Encrypt uses

	reload sync.Mutex // one reload of seal_keys at a time
}

// Open unwraps the database's data keys with root, creating data key 1 if
// there is none. It fails, changing nothing, when root is not the key the
// database was sealed with.
func Open(ctx context.Context, db *store.DB, root RootKey) (*Seal, error) {
	if !root.valid() {
		return nil, errors.New("seal: no root key")
	}
	s := &Seal{db: db, root: root, keys: map[uint32]opaque[cipher.AEAD]{}}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if s.latestVersion() == 0 {
		if _, err := s.insertNext(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Encrypt seals plaintext with the latest data key. aad names what the
// ciphertext is for (table, row, column); Decrypt must be given the same.
func (s *Seal) Encrypt(plaintext []byte, aad string) ([]byte, error) {
	s.mu.RLock()
	v, a := s.latest, s.keys[s.latest]
	s.mu.RUnlock()
	if a == nil { // only a zero Seal gets here
		return nil, errors.New("seal: no data key")
	}
	out := make([]byte, headerSize, headerSize+nonceSize+len(plaintext)+tagSize)
	out[0] = format
	binary.BigEndian.PutUint32(out[1:headerSize], v)
	return a().Seal(out, nil, plaintext, additionalData(out[:headerSize], aad)), nil
}

// Decrypt opens a ciphertext made by Encrypt with the same aad. A data key
// version this node has not seen is looked up in the database once, since
// another node may have rotated.
func (s *Seal) Decrypt(ciphertext []byte, aad string) ([]byte, error) {
	if len(ciphertext) < headerSize+nonceSize+tagSize {
		return nil, errDamaged
	}
	if ciphertext[0] != format {
		return nil, errDamaged
	}
	v := binary.BigEndian.Uint32(ciphertext[1:headerSize])
	a, err := s.key(v)
	if err != nil {
		return nil, err
	}
	pt, err := a().Open(nil, nil, ciphertext[headerSize:], additionalData(ciphertext[:headerSize], aad))
	if err != nil {
		return nil, errDamaged
	}
	return pt, nil
}

// additionalData binds a ciphertext to its header and its purpose.
func additionalData(header []byte, aad string) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

// key returns data key v, reloading seal_keys once if v is newer than any
// this node knows. Older unknown versions cannot exist (keys are never
// deleted), so they do not cost a query.
func (s *Seal) key(v uint32) (opaque[cipher.AEAD], error) {
	s.mu.RLock()
	a, latest := s.keys[v], s.latest
	s.mu.RUnlock()
	if a != nil {
		return a, nil
	}
	if v > latest {
		// Decrypt takes no context; a bounded one keeps a slow database
		// from hanging the caller forever.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.loadAfterMiss(ctx, v); err != nil {
			return nil, err
		}
		s.mu.RLock()
		a = s.keys[v]
		s.mu.RUnlock()
		if a != nil {
			return a, nil
		}
	}
	return nil, fmt.Errorf("seal: ciphertext is damaged or names data key v%d, which this database does not have", v)
}

// loadAfterMiss reloads unless a concurrent reload already brought key v.
func (s *Seal) loadAfterMiss(ctx context.Context, v uint32) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	s.mu.RLock()
	_, ok := s.keys[v]
	s.mu.RUnlock()
	if ok {
		return nil
	}
	return s.load(ctx)
}

// RotateDataKey adds a data key one version past the latest this node knows
// and makes it the one Encrypt uses. If another node got there first, that
// node's key is used instead and its version returned. Old ciphertexts keep
// decrypting.
func (s *Seal) RotateDataKey(ctx context.Context) (version int, err error) {
	v, err := s.insertNext(ctx)
	return int(v), err
}

// insertNext inserts data key latest+1, wrapped by the root key. On a
// conflict another node inserted that version; load it and use it.
func (s *Seal) insertNext(ctx context.Context) (uint32, error) {
	latest := s.latestVersion()
	if latest == math.MaxUint32 {
		return 0, errors.New("seal: data key versions exhausted")
	}
	next := latest + 1
	dk := make([]byte, dataKeyLen)
	defer clear(dk)
	if _, err := rand.Read(dk); err != nil {
		return 0, fmt.Errorf("seal: generate data key: %w", err)
	}
	wrapped, err := wrap(s.root, next, dk)
	if err != nil {
		return 0, err
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		// The lock orders this against Rewrap, so a node still holding the
		// old root key cannot add a key wrapped by it after the rewrap.
		if err := tx.Lock(ctx, lockName); err != nil {
			return fmt.Errorf("seal: lock data keys: %w", err)
		}
		var foreign int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM seal_keys WHERE root_key_id <> ?`, s.root.ID()).Scan(&foreign); err != nil {
			return fmt.Errorf("seal: read data keys: %w", err)
		}
		if foreign > 0 {
			return fmt.Errorf("seal: the data keys were rewrapped under another root key since this node started (this node has root key id %s); restart it with the new RUNCRED_ROOT_KEY_FILE", s.root.ID())
		}
		_, err := tx.Exec(ctx, `INSERT INTO seal_keys (version, root_key_id, wrapped, created_at) VALUES (?, ?, ?, ?)`,
			int64(next), s.root.ID(), wrapped, store.Nanos(time.Now()))
		if err != nil {
			return fmt.Errorf("seal: store data key v%d: %w", next, err)
		}
		return nil
	})
	if err != nil && !store.IsConflict(err) {
		return 0, err
	}
	if err == nil {
		a, err := newAEAD(dk)
		if err != nil {
			return 0, err
		}
		s.add(next, a)
		return next, nil
	}
	if err := s.load(ctx); err != nil {
		return 0, err
	}
	if got := s.latestVersion(); got >= next {
		return got, nil
	}
	return 0, fmt.Errorf("seal: data key v%d conflicted but is not in the database", next)
}

// lockName serialises changes to seal_keys across nodes.
const lockName = "seal_keys"

func (s *Seal) add(v uint32, a cipher.AEAD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[v] = hide(a)
	if v > s.latest {
		s.latest = v
	}
}

func (s *Seal) latestVersion() uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.latest
}

// load reads every row of seal_keys and unwraps the ones this node lacks. It
// only reads, so a wrong root key leaves the database as it was.
func (s *Seal) load(ctx context.Context) error {
	rows, err := readKeys(ctx, s.db.Query)
	if err != nil {
		return err
	}
	s.mu.RLock()
	var missing []keyRow
	for _, r := range rows {
		if s.keys[r.version] == nil {
			missing = append(missing, r)
		}
	}
	s.mu.RUnlock()
	for _, r := range missing {
		dk, err := unwrapRow(s.root, r)
		if err != nil {
			return err
		}
		a, err := newAEAD(dk)
		clear(dk)
		if err != nil {
			return err
		}
		s.add(r.version, a)
	}
	return nil
}

type keyRow struct {
	version   uint32
	rootKeyID string
	wrapped   []byte
}

// readKeys reads seal_keys through query (a DB's or a Tx's) and closes the
// rows before returning, so the caller may write on the same connection.
func readKeys(ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error)) ([]keyRow, error) {
	rs, err := query(ctx, `SELECT version, root_key_id, wrapped FROM seal_keys ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("seal: read data keys: %w", err)
	}
	defer rs.Close()
	var out []keyRow
	for rs.Next() {
		var (
			v   int64
			r   keyRow
			err = rs.Scan(&v, &r.rootKeyID, &r.wrapped)
		)
		if err != nil {
			return nil, fmt.Errorf("seal: read data keys: %w", err)
		}
		if v < 1 || v > math.MaxUint32 {
			return nil, fmt.Errorf("seal: seal_keys has a row with invalid version %d", v)
		}
		r.version = uint32(v)
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("seal: read data keys: %w", err)
	}
	return out, nil
}

// unwrapRow checks the row's root key id before trying the key, so that the
// common mistake (the wrong key file) gets the message that names it.
func unwrapRow(root RootKey, r keyRow) ([]byte, error) {
	if r.rootKeyID != root.ID() {
		return nil, fmt.Errorf("seal: the root key (id %s) is not the one this database was sealed with (id %s); start with the right RUNCRED_ROOT_KEY_FILE", root.ID(), r.rootKeyID)
	}
	dk, err := unwrap(root, r.version, r.wrapped)
	if err != nil {
		return nil, fmt.Errorf("seal: data key v%d does not open with root key %s although the key ids match; its seal_keys row is damaged", r.version, root.ID())
	}
	return dk, nil
}

// wrap and unwrap bind a data key to its version through the additional
// data, so wrapped keys cannot be swapped between rows.
func wrap(root RootKey, v uint32, dk []byte) ([]byte, error) {
	a, err := root.aead()
	if err != nil {
		return nil, err
	}
	return a.Seal(nil, nil, dk, wrapAAD(v)), nil
}

func unwrap(root RootKey, v uint32, wrapped []byte) ([]byte, error) {
	a, err := root.aead()
	if err != nil {
		return nil, err
	}
	dk, err := a.Open(nil, nil, wrapped, wrapAAD(v))
	if err != nil {
		return nil, err
	}
	if len(dk) != dataKeyLen {
		clear(dk)
		return nil, errors.New("wrong data key length")
	}
	return dk, nil
}

func wrapAAD(v uint32) []byte {
	return []byte("runcred/seal/data-key/v" + strconv.FormatUint(uint64(v), 10))
}
