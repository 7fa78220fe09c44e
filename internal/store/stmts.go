package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements by query text. modernc's SQLite driver
// parses a statement afresh on every call (about a sixth of a broker
// request's CPU was SQLite's parser); a prepared *sql.Stmt is prepared once
// per connection and reused. PostgreSQL needs no cache: pgx keeps its own.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

// maxStmts bounds the cache; queries are fixed strings in runcred's code,
// so this is never reached in practice, and past it statements are simply
// not cached.
const maxStmts = 512

func newStmtCache(pool *sql.DB) *stmtCache { return &stmtCache{pool: pool, m: map[string]*sql.Stmt{}} }

// get returns the prepared statement for q, or nil if it cannot be prepared
// (the caller then runs q unprepared and reports the driver's error).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	s, ok := c.m[q]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return s
	}
	// Prepare without holding the lock: on SQLite it may wait for the one
	// write connection, whose holder may need the lock meanwhile.
	s, err := c.pool.PrepareContext(context.WithoutCancel(ctx), q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[q]; ok {
		s.Close()
		return old
	}
	if c.m == nil { // closed meanwhile
		s.Close()
		return nil
	}
	c.m[q] = s
	return s
}

// cached returns the statement for q if it is already prepared.
func (c *stmtCache) cached(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}
