package broker

import (
	"testing"
	"time"

	"github.com/runcred/runcred/internal/clocktest"
)

// A value read from the database before a write on this node, and put in
// the cache after that write dropped the key, is not kept: it may be the
// value the write replaced.
func TestStorageCacheRefusesReadsOlderThanAWrite(t *testing.T) {
	clock := clocktest.New(time.Now())
	c := newStorageCache(time.Hour, clock.Now)
	_, hit, gen := c.get("m", "k")
	if hit {
		t.Fatal("hit in an empty cache")
	}
	c.drop("m", "k") // a write lands while the read is under way
	c.put("m", "k", []byte("old"), gen)
	if _, hit, _ := c.get("m", "k"); hit {
		t.Fatal("a read older than a write was cached")
	}
	_, _, gen = c.get("m", "k")
	c.put("m", "k", []byte("new"), gen)
	if v, hit, _ := c.get("m", "k"); !hit || string(v) != "new" {
		t.Fatalf("a fresh read was not cached: %q, %v", v, hit)
	}
	c.dropMount("other")
	if _, hit, _ := c.get("m", "k"); !hit {
		t.Fatal("dropping another mount dropped this one's key")
	}
	c.dropMount("m")
	if _, hit, _ := c.get("m", "k"); hit {
		t.Fatal("a removed mount's key is still cached")
	}
	_, _, gen = c.get("m", "k")
	c.put("m", "k", []byte("v"), gen)
	clock.Add(time.Hour)
	if _, hit, _ := c.get("m", "k"); hit {
		t.Fatal("an entry as old as the refresh interval was served")
	}
}
