package kv

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// TestCheckAndSetConcurrent races writers that all saw version 1: the
// per-key Atomic lock must let exactly one win.
func TestCheckAndSetConcurrent(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"v":0}`)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
				Operation: engine.Update, Path: "data/k", Storage: slowStorage{e.st},
				Data: map[string]any{"data": map[string]any{"writer": i}, "options": map[string]any{"cas": json.Number("1")}},
			})
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case fail.Message(err) != "check-and-set parameter did not match the current version":
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won, want exactly 1", wins)
	}
	if v := e.ok(engine.Read, "data/k", "").Data["metadata"].(map[string]any)["version"]; v != 2 {
		t.Errorf("version %v, want 2", v)
	}
}

// slowStorage widens the window between a write's read of the metadata and
// its write, so that writers the lock failed to serialise would overlap.
type slowStorage struct{ engine.Storage }

func (s slowStorage) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Storage.Get(ctx, key)
	time.Sleep(time.Millisecond) // what was read may be stale by the time it is used
	return v, err
}

func (s slowStorage) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	return s.Storage.Atomic(ctx, lock, func(tx engine.Storage) error { return fn(slowStorage{tx}) })
}

// brokenStorage fails every operation on keys with the given prefix.
type brokenStorage struct {
	engine.Storage
	prefix string
}

func (s brokenStorage) check(key string) error {
	if strings.HasPrefix(key, s.prefix) {
		return errors.New("disk on fire")
	}
	return nil
}

func (s brokenStorage) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	return s.Storage.Get(ctx, key)
}

func (s brokenStorage) Put(ctx context.Context, key string, v []byte) error {
	if err := s.check(key); err != nil {
		return err
	}
	return s.Storage.Put(ctx, key, v)
}

func (s brokenStorage) Atomic(ctx context.Context, lock string, fn func(engine.Storage) error) error {
	return s.Storage.Atomic(ctx, lock, func(tx engine.Storage) error { return fn(brokenStorage{tx, s.prefix}) })
}

// TestStorageFaults checks that storage failures and damaged documents are
// internal errors (500, cause hidden), never a 404 or a 400.
func TestStorageFaults(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"a":1}`)
	for _, tc := range []struct {
		prefix string
		op     engine.Operation
		path   string
	}{
		{"meta/", engine.Read, "data/k"},
		{"ver/", engine.Read, "data/k"},
		{"config", engine.Update, "data/k"},
		{"meta/", engine.Update, "data/k"},
		{"ver/", engine.Update, "data/k"},
		{"ver/", engine.Patch, "data/k"},
		{"config", engine.Read, "config"},
		{"config", engine.Update, "config"},
		{"meta/", engine.List, "metadata/"},
	} {
		data := map[string]any{"data": map[string]any{"b": "2"}, "exclude_deleted": true}
		resp, err := engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
			Operation: tc.op, Path: tc.path, Data: data, Storage: brokenStorage{e.st, tc.prefix},
		})
		if err == nil || fail.KindOf(err) != fail.Internal {
			t.Errorf("%s %s with %s broken: got %+v, %v; want an internal error", tc.op, tc.path, tc.prefix, resp, err)
		}
	}
	sameJSON(t, "after faults", e.ok(engine.Read, "data/k", "").Data["data"], `{"a":1}`)

	// Version data missing behind live metadata, and a damaged document.
	ctx := context.Background()
	_ = e.st.Delete(ctx, verKey("k", 1))
	_ = e.st.Put(ctx, metaKey("bad"), []byte("{"))
	_ = e.st.Put(ctx, configKey, []byte(`{"max_versions":"x"}`))
	for _, tc := range []struct {
		op   engine.Operation
		path string
	}{
		{engine.Read, "data/k"},
		{engine.Read, "data/bad"},
		{engine.Read, "metadata/bad"},
		{engine.Read, "config"},
		{engine.Update, "data/new"},
	} {
		if _, err := e.call(tc.op, tc.path, `{"data":{}}`); err == nil || fail.KindOf(err) != fail.Internal {
			t.Errorf("%s %s: got %v, want an internal error", tc.op, tc.path, err)
		}
	}
}
