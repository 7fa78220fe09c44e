// Package enginetest gives engine tests an in-memory Storage, so a backend
// can be tested by calling HandleRequest directly, as Vault's backend tests
// do. The broker's own storage (sealed, on SQLite and PostgreSQL) passes the
// same conformance test, StorageSuite.
package enginetest

import (
	"context"
	"sort"
	"strings"
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
	return append([]byte(nil), v...), nil
}

func (s *Storage) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = append([]byte(nil), value...)
	return nil
}

func (s *Storage) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, key)
	return nil
}

func (s *Storage) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for k := range s.data {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Atomic serialises on lock; it does not roll back on error (tests that
// need rollback use the broker's real storage).
func (s *Storage) Atomic(_ context.Context, lock string, fn func(engine.Storage) error) error {
	m, _ := s.locks.LoadOrStore(lock, &sync.Mutex{})
	m.(*sync.Mutex).Lock()
	defer m.(*sync.Mutex).Unlock()
	return fn(s)
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
