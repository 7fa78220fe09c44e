package broker

import (
	"context"
	"database/sql"
	"fmt"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
)

// querier is what both the database and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *store.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// mountStorage is one mount's engine.Storage: rows of broker_storage, every
// value sealed with additional data naming the mount and the key, so a value
// copied to another key or mount does not decrypt.
//
// With a cache, the values of keys cacheable names are read through it
// outside transactions, and every write drops the keys it touched from it
// once it is visible to other readers (see storageCache).
type mountStorage struct {
	db   *store.DB
	q    querier // db, or the transaction of an Atomic
	tx   *store.Tx
	seal *seal.Seal
	uuid string

	cache     *storageCache     // nil: no cache
	cacheable func(string) bool // nil: no key is read from the cache
	written   *[]string         // in a transaction: the keys it wrote
}

func newMountStorage(db *store.DB, s *seal.Seal, uuid string) *mountStorage {
	return &mountStorage{db: db, q: db, seal: s, uuid: uuid}
}

// storage is the storage of the mount with the given uuid on this node.
// be, if not nil, is the mount's engine, which may name keys whose values
// can be served from the node's cache.
func (b *Broker) storage(uuid string, be engine.Backend) *mountStorage {
	s := newMountStorage(b.db, b.seal, uuid)
	s.cache = b.storeCache
	if c, ok := be.(engine.Cacheable); ok {
		s.cacheable = c.Cacheable
	}
	return s
}

// wrote drops key from the cache, at once outside a transaction and again
// when the transaction ends inside one.
func (s *mountStorage) wrote(key string) {
	if s.cache == nil {
		return
	}
	s.cache.drop(s.uuid, key)
	if s.written != nil {
		*s.written = append(*s.written, key)
	}
}

func (s *mountStorage) aad(key string) string { return "broker/" + s.uuid + "/" + key }

// Keys engine.ValidKey refuses are never stored, so they find nothing; they
// must not reach the database, where PostgreSQL rejects non-UTF-8 text.
func (s *mountStorage) Get(ctx context.Context, key string) ([]byte, error) {
	if !engine.ValidKey(key) {
		return nil, nil
	}
	// Inside a transaction reads go to it, so they see its own writes
	// and what it locked.
	cached := s.tx == nil && s.cache != nil && s.cacheable != nil && s.cacheable(key)
	var ct []byte
	var hit bool
	var gen uint64
	if cached {
		ct, hit, gen = s.cache.get(s.uuid, key)
	}
	if !hit {
		err := s.q.QueryRow(ctx, `SELECT value FROM broker_storage WHERE mount_uuid = ? AND key = ?`, s.uuid, key).Scan(&ct)
		if store.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if cached {
			s.cache.put(s.uuid, key, ct, gen)
		}
	}
	pt, err := s.seal.Decrypt(ct, s.aad(key))
	if err != nil {
		return nil, fmt.Errorf("broker: storage %s: %w", key, err)
	}
	if pt == nil { // an empty value, which is not a missing one
		pt = []byte{}
	}
	return pt, nil
}

func (s *mountStorage) Put(ctx context.Context, key string, value []byte) error {
	if err := engine.CheckKey(key); err != nil {
		return err
	}
	ct, err := s.seal.Encrypt(value, s.aad(key))
	if err != nil {
		return err
	}
	_, err = s.q.Exec(ctx, `INSERT INTO broker_storage (mount_uuid, key, value) VALUES (?, ?, ?)
		ON CONFLICT (mount_uuid, key) DO UPDATE SET value = excluded.value`, s.uuid, key, ct)
	s.wrote(key)
	return err
}

func (s *mountStorage) Delete(ctx context.Context, key string) error {
	if !engine.ValidKey(key) {
		return nil
	}
	_, err := s.q.Exec(ctx, `DELETE FROM broker_storage WHERE mount_uuid = ? AND key = ?`, s.uuid, key)
	s.wrote(key)
	return err
}

func (s *mountStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if !utf8.ValidString(prefix) {
		return []string{}, nil
	}
	rows, err := s.q.Query(ctx, `SELECT key FROM broker_storage WHERE mount_uuid = ? AND substr(key, 1, ?) = ?`,
		s.uuid, utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return nil, err
	}
	keys, err := store.Strings(rows)
	if err != nil {
		return nil, err
	}
	return engine.ChildNames(prefix, keys), nil
}

func (s *mountStorage) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	if s.tx != nil { // already in a transaction: take the extra lock in it
		if err := s.tx.Lock(ctx, "broker/"+s.uuid+"/"+lock); err != nil {
			return err
		}
		return fn(s)
	}
	var written []string
	defer func() {
		// Committed or not, what the transaction wrote is read afresh.
		if s.cache != nil && len(written) > 0 {
			s.cache.drop(s.uuid, written...)
		}
	}()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "broker/"+s.uuid+"/"+lock); err != nil {
			return err
		}
		return fn(&mountStorage{db: s.db, q: tx, tx: tx, seal: s.seal, uuid: s.uuid, cache: s.cache, written: &written})
	})
}
