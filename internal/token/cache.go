package token

import (
	"sync"
	"time"
)

// cache keeps recently looked-up entries by stored id, so a request's token
// check need not read the database. Changes made through this Store (revoke,
// renew, a use) drop the entries they touch before they return; changes made
// on another server node are seen once an entry is older than ttl (the
// nodes' refresh interval). Use-limited tokens are never cached: each use
// is counted in the database.
type cache struct {
	ttl time.Duration

	mu  sync.Mutex
	gen uint64 // bumped by every invalidation
	m   map[string]cached
}

type cached struct {
	e  Entry
	at time.Time
}

// maxCached bounds the cache; past it the cache starts afresh.
const maxCached = 100_000

// get returns the cached entry for id if it is younger than ttl, and the
// generation to pass to put after reading the database on a miss.
func (c *cache) get(id string, now time.Time) (Entry, bool, uint64) {
	if c == nil {
		return Entry{}, false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	if ok && now.Sub(v.at) < c.ttl && !now.Before(v.at) {
		return v.e, true, c.gen
	}
	if ok {
		delete(c.m, id)
	}
	return Entry{}, false, c.gen
}

// put caches e as read at now, unless an invalidation happened since gen
// was taken: the read may predate it and so hold a revoked token.
func (c *cache) put(e Entry, now time.Time, gen uint64) {
	if c == nil || e.NumUses != 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCached {
		c.m = map[string]cached{}
	}
	c.m[e.id] = cached{e: e, at: now}
}

// drop forgets the given ids, or everything when all is set.
func (c *cache) drop(all bool, ids ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if all {
		c.m = map[string]cached{}
		return
	}
	for _, id := range ids {
		delete(c.m, id)
	}
}
