package broker

import (
	"sync"
	"time"
)

// storageCache keeps the sealed values of engine storage keys that are read
// on every request and rarely written (a jwt method's config and roles, a KV
// mount's config, key metadata and version documents), so a login or a
// read need not go to the database for them. Only keys the engine names
// cacheable (engine.Cacheable) are kept, and only ciphertext: every hit is
// still decrypted and checked against its mount and key.
//
// Writes made on this node drop the keys they touch when they return (a
// transaction's when it has committed or rolled back), so the next request
// here sees them. Writes made on another node sharing the database are
// seen once an entry is older than ttl, the nodes' refresh interval, as
// with cached tokens, mounts and policies.
type storageCache struct {
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	gen uint64 // bumped by every invalidation
	m   map[cacheKey]cachedValue
}

type cacheKey struct{ uuid, key string }

type cachedValue struct {
	ct []byte
	at time.Time
}

// maxCachedValues bounds the cache; past it the cache starts afresh.
const maxCachedValues = 50_000

func newStorageCache(ttl time.Duration, now func() time.Time) *storageCache {
	return &storageCache{ttl: ttl, now: now, m: map[cacheKey]cachedValue{}}
}

// get returns the cached ciphertext of key if it is younger than ttl, and
// the generation to pass to put after reading the database on a miss.
func (c *storageCache) get(uuid, key string) ([]byte, bool, uint64) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{uuid, key}
	v, ok := c.m[k]
	if ok && now.Sub(v.at) < c.ttl && !now.Before(v.at) {
		return v.ct, true, c.gen
	}
	if ok {
		delete(c.m, k)
	}
	return nil, false, c.gen
}

// put keeps ct as key's value, unless an invalidation happened since gen
// was taken: the read may predate a write this node has made.
func (c *storageCache) put(uuid, key string, ct []byte, gen uint64) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCachedValues {
		c.m = map[cacheKey]cachedValue{}
	}
	c.m[cacheKey{uuid, key}] = cachedValue{ct: ct, at: now}
}

// drop forgets the given keys of a mount.
func (c *storageCache) drop(uuid string, keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, cacheKey{uuid, k})
	}
}

// dropMount forgets every key of a mount.
func (c *storageCache) dropMount(uuid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.m {
		if k.uuid == uuid {
			delete(c.m, k)
		}
	}
}
