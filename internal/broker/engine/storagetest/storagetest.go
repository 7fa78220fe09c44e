// Package storagetest is the conformance suite for engine.Storage: what the
// contract promises about keys, values, listing and Atomic, checked the same
// way against every implementation (the in-memory one engine tests use and
// the broker's sealed SQL storage on SQLite and PostgreSQL), so an engine
// tested in memory behaves the same in production.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Run checks the implementation newStorage makes; each call must return an
// empty Storage of its own.
func Run(t *testing.T, newStorage func(t *testing.T) engine.Storage) {
	t.Helper()
	for _, c := range []struct {
		name string
		fn   func(*testing.T, engine.Storage)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"EmptyValue", testEmptyValue},
		{"ValuesAreCopies", testValuesAreCopies},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"List", testList},
		{"ListLiteralPrefix", testListLiteralPrefix},
		{"AtomicCommit", testAtomicCommit},
		{"AtomicRollback", testAtomicRollback},
		{"AtomicNested", testAtomicNested},
		{"AtomicConcurrent", testAtomicConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStorage(t)) })
	}
}

var ctx = context.Background()

func get(t *testing.T, s engine.Storage, key string) []byte {
	t.Helper()
	v, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func put(t *testing.T, s engine.Storage, key, value string) {
	t.Helper()
	if err := s.Put(ctx, key, []byte(value)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func list(t *testing.T, s engine.Storage, prefix string) []string {
	t.Helper()
	names, err := s.List(ctx, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return names
}

func wantValue(t *testing.T, s engine.Storage, key, want string) {
	t.Helper()
	if got := get(t, s, key); got == nil || string(got) != want {
		t.Fatalf("Get(%q) = %q (nil: %t), want %q", key, got, got == nil, want)
	}
}

func wantMissing(t *testing.T, s engine.Storage, key string) {
	t.Helper()
	if got := get(t, s, key); got != nil {
		t.Fatalf("Get(%q) = %q, want nil (missing)", key, got)
	}
}

func wantList(t *testing.T, s engine.Storage, prefix string, want ...string) {
	t.Helper()
	if got := list(t, s, prefix); !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func testGetMissing(t *testing.T, s engine.Storage) {
	wantMissing(t, s, "nothing/here")
	put(t, s, "a/b", "x")
	wantMissing(t, s, "a") // a folder is not a key
	wantMissing(t, s, "a/")
	wantMissing(t, s, "a/b/c")
}

func testPutGet(t *testing.T, s engine.Storage) {
	put(t, s, "config", `{"a":1}`)
	wantValue(t, s, "config", `{"a":1}`)
	put(t, s, "config", `{"a":2}`) // overwrite
	wantValue(t, s, "config", `{"a":2}`)

	binary := string([]byte{0, 1, 2, 0xff, 0xfe})
	put(t, s, "bin", binary)
	wantValue(t, s, "bin", binary)

	// Keys are exact: neighbours, case and unicode are distinct keys.
	for _, k := range []string{"Config", "config/", "role/π", "role/p", "with space", "per%cent_under"} {
		put(t, s, k, "v:"+k)
	}
	for _, k := range []string{"Config", "config/", "role/π", "role/p", "with space", "per%cent_under"} {
		wantValue(t, s, k, "v:"+k)
	}
	wantValue(t, s, "config", `{"a":2}`)

	// A key as long as the contract allows works.
	long := strings.Repeat("k", engine.MaxKeyLen)
	put(t, s, long, "long")
	wantValue(t, s, long, "long")
}

// An empty value is a value: Get tells it from a missing key.
func testEmptyValue(t *testing.T, s engine.Storage) {
	put(t, s, "empty", "")
	if err := s.Put(ctx, "nil", nil); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "empty", "")
	wantValue(t, s, "nil", "")
	wantList(t, s, "", "empty", "nil")
	err := s.Atomic(ctx, "l", func(tx engine.Storage) error {
		put(t, tx, "in-tx", "")
		wantValue(t, tx, "in-tx", "")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "in-tx", "")
}

// Neither the caller's slice after Put nor the slice Get returned may alter
// what is stored.
func testValuesAreCopies(t *testing.T, s engine.Storage) {
	in := []byte("original")
	if err := s.Put(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	out := get(t, s, "k")
	wantValue(t, s, "k", "original")
	copy(out, "YYYYYYYY")
	wantValue(t, s, "k", "original")
}

func testDelete(t *testing.T, s engine.Storage) {
	put(t, s, "a/1", "x")
	put(t, s, "a/2", "y")
	if err := s.Delete(ctx, "a/1"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "a/1")
	wantValue(t, s, "a/2", "y")
	if err := s.Delete(ctx, "a/1"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("Delete of a never-written key: %v", err)
	}
	if err := s.Delete(ctx, "a/"); err != nil { // a folder: deletes nothing
		t.Fatalf("Delete of a folder: %v", err)
	}
	wantValue(t, s, "a/2", "y")
	wantList(t, s, "a/", "2")
}

// Keys that cannot be stored are refused on Put; reading, deleting or listing
// them finds nothing rather than failing.
func testInvalidKeys(t *testing.T, s engine.Storage) {
	for name, k := range map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("k", engine.MaxKeyLen+1),
		"not utf-8": "bad/\xff\xfe",
	} {
		if err := s.Put(ctx, k, []byte("v")); !fail.Is(err, fail.Invalid) {
			t.Errorf("Put with %s key: %v, want an invalid-request error (400)", name, err)
		}
		if v, err := s.Get(ctx, k); v != nil || err != nil {
			t.Errorf("Get with %s key = %q, %v; want nil, nil", name, v, err)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Errorf("Delete with %s key: %v", name, err)
		}
	}
	if names, err := s.List(ctx, "bad/\xff/"); len(names) != 0 || err != nil {
		t.Errorf("List under a non-UTF-8 prefix = %q, %v; want nothing", names, err)
	}
	if ks := list(t, s, ""); len(ks) != 0 {
		t.Errorf("invalid keys were stored: %q", ks)
	}
}

func testList(t *testing.T, s engine.Storage) {
	wantList(t, s, "")
	wantList(t, s, "missing/")
	for _, k := range []string{"role/b", "role/a", "role/a/nested", "role/c/deep/er", "config", "roles", "z/"} {
		put(t, s, k, "v")
	}
	// Sorted names directly under the prefix, each once; folders end in "/";
	// a key and a folder of the same name are both listed.
	wantList(t, s, "", "config", "role/", "roles", "z/")
	wantList(t, s, "role/", "a", "a/", "b", "c/")
	wantList(t, s, "role/c/", "deep/")
	wantList(t, s, "role/c/deep/", "er")
	wantList(t, s, "role/a/", "nested")
	wantList(t, s, "z/") // the key "z/" itself is not a name under "z/"
	wantList(t, s, "rol/")

	if err := s.Delete(ctx, "role/a/nested"); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, "role/", "a", "b", "c/")
	wantList(t, s, "role/a/")
}

// Prefixes match literally: SQL wildcards and multi-byte characters are
// ordinary characters.
func testListLiteralPrefix(t *testing.T, s engine.Storage) {
	for _, k := range []string{"a%/x", "ab/y", "a_/z", "aa/w", "é/1", "e/2", "éé/3", "日本/語"} {
		put(t, s, k, "v")
	}
	wantList(t, s, "a%/", "x")
	wantList(t, s, "a_/", "z")
	wantList(t, s, "é/", "1")
	wantList(t, s, "日本/", "語")
	wantList(t, s, "", "a%/", "a_/", "aa/", "ab/", "e/", "é/", "éé/", "日本/")
}

func testAtomicCommit(t *testing.T, s engine.Storage) {
	put(t, s, "gone", "x")
	err := s.Atomic(ctx, "l", func(tx engine.Storage) error {
		wantValue(t, tx, "gone", "x") // reads what was committed before
		put(t, tx, "new", "1")
		wantValue(t, tx, "new", "1") // and its own writes
		if err := tx.Delete(ctx, "gone"); err != nil {
			return err
		}
		wantMissing(t, tx, "gone")
		wantList(t, tx, "", "new")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "new", "1")
	wantMissing(t, s, "gone")
	wantList(t, s, "", "new")
}

func testAtomicRollback(t *testing.T, s engine.Storage) {
	put(t, s, "kept", "before")
	put(t, s, "doomed", "before")
	boom := errors.New("boom")
	err := s.Atomic(ctx, "l", func(tx engine.Storage) error {
		put(t, tx, "kept", "after")
		put(t, tx, "added", "after")
		if err := tx.Delete(ctx, "doomed"); err != nil {
			return err
		}
		return fmt.Errorf("step failed: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Atomic returned %v, want fn's error", err)
	}
	wantValue(t, s, "kept", "before")
	wantValue(t, s, "doomed", "before")
	wantMissing(t, s, "added")
	wantList(t, s, "", "doomed", "kept")
}

// An Atomic inside an Atomic (another lock, or the same one again) joins the
// outer transaction: its writes commit or roll back with the outer's.
func testAtomicNested(t *testing.T, s engine.Storage) {
	err := s.Atomic(ctx, "outer", func(tx engine.Storage) error {
		put(t, tx, "a", "1")
		return tx.Atomic(ctx, "inner", func(tx engine.Storage) error {
			wantValue(t, tx, "a", "1")
			return tx.Atomic(ctx, "outer", func(tx engine.Storage) error {
				put(t, tx, "b", "2")
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "a", "1")
	wantValue(t, s, "b", "2")

	boom := errors.New("boom")
	err = s.Atomic(ctx, "outer", func(tx engine.Storage) error {
		if err := tx.Atomic(ctx, "inner", func(tx engine.Storage) error {
			put(t, tx, "c", "3")
			return nil
		}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Atomic returned %v, want fn's error", err)
	}
	wantMissing(t, s, "c")
}

// Read-modify-write under one lock loses no update, however many run at once.
func testAtomicConcurrent(t *testing.T, s engine.Storage) {
	const workers, rounds = 8, 10
	put(t, s, "counter", "0")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				err := s.Atomic(ctx, "counter", func(tx engine.Storage) error {
					v, err := tx.Get(ctx, "counter")
					if err != nil {
						return err
					}
					var n int
					if _, err := fmt.Sscan(string(v), &n); err != nil {
						return fmt.Errorf("counter %q: %w", v, err)
					}
					return tx.Put(ctx, "counter", []byte(fmt.Sprint(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantValue(t, s, "counter", fmt.Sprint(workers*rounds))
}
