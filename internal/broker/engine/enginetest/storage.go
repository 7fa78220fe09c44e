// Package enginetest gives engine tests an in-memory Storage, so a backend
// can be tested by serving requests through its route table directly
// (Call), as Vault's backend tests do. It and the broker's own storage
// (sealed, on SQLite and PostgreSQL) pass the same conformance suite,
// package storagetest.
package enginetest

import (
	"context"
	"sort"
	"sync"

	"github.com/runcred/runcred/internal/broker/engine"
)

// Storage is an in-memory engine.Storage.
type Storage struct {
	mu    sync.Mutex
	data  map[string][]byte
	locks sync.Map // lock name → *sync.Mutex
}

// NewStorage returns an empty Storage.
func NewStorage() *Storage { return &Storage{data: map[string][]byte{}} }

func (s *Storage) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	return clone(v), nil
}

func (s *Storage) Put(_ context.Context, key string, value []byte) error {
	if err := engine.CheckKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = clone(value)
	return nil
}

func (s *Storage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
	return nil
}

func (s *Storage) List(_ context.Context, prefix string) ([]string, error) {
	return engine.ChildNames(prefix, s.Keys()), nil
}

// Atomic serialises on lock, as the broker's storage does on every node,
// and applies fn's writes only when fn succeeds.
func (s *Storage) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	tx := &txStorage{s: s, writes: map[string][]byte{}, held: map[string]*sync.Mutex{}}
	defer tx.unlock()
	if err := tx.Atomic(ctx, lock, fn); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range tx.writes {
		if v == nil {
			delete(s.data, k)
		} else {
			s.data[k] = v
		}
	}
	return nil
}

// Keys returns every stored key, sorted (for assertions).
func (s *Storage) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.data))
	for k := range s.data {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// txStorage is the Storage an Atomic's fn sees: its writes stay here until
// fn succeeds, and it holds every lock taken in it until then.
type txStorage struct {
	s      *Storage
	writes map[string][]byte // a nil value is a delete
	held   map[string]*sync.Mutex
}

func (t *txStorage) Get(ctx context.Context, key string) ([]byte, error) {
	if v, ok := t.writes[key]; ok {
		if v == nil { // deleted
			return nil, nil
		}
		return clone(v), nil
	}
	return t.s.Get(ctx, key)
}

func (t *txStorage) Put(_ context.Context, key string, value []byte) error {
	if err := engine.CheckKey(key); err != nil {
		return err
	}
	t.writes[key] = clone(value)
	return nil
}

func (t *txStorage) Delete(_ context.Context, key string) error {
	t.writes[key] = nil
	return nil
}

func (t *txStorage) List(_ context.Context, prefix string) ([]string, error) {
	keys := map[string]bool{}
	for _, k := range t.s.Keys() {
		keys[k] = true
	}
	for k, v := range t.writes {
		keys[k] = v != nil
	}
	var live []string
	for k, ok := range keys {
		if ok {
			live = append(live, k)
		}
	}
	return engine.ChildNames(prefix, live), nil
}

// Atomic inside an Atomic joins it, taking lock too unless already held
// (as PostgreSQL's advisory locks do within one transaction).
func (t *txStorage) Atomic(_ context.Context, lock string, fn func(engine.Storage) error) error {
	if t.held[lock] == nil {
		m, _ := t.s.locks.LoadOrStore(lock, &sync.Mutex{})
		t.held[lock] = m.(*sync.Mutex)
		t.held[lock].Lock()
	}
	return fn(t)
}

func (t *txStorage) unlock() {
	for _, m := range t.held {
		m.Unlock()
	}
}

// clone copies a stored value; never nil, so an empty value stays distinct
// from a missing one.
func clone(v []byte) []byte { return append([]byte{}, v...) }
