package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/clocktest"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/fail"
)

// t0 has nanoseconds so that time formatting is checked to the digit.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// ts is t0+d as Vault renders it.
func ts(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

// env is a mount with in-memory storage and a clock that moves only when
// a test says so.
type env struct {
	t     testing.TB
	b     *Backend
	st    *enginetest.Storage
	clock *clocktest.Clock
}

func newEnv(t testing.TB, version string) *env {
	t.Helper()
	c := clocktest.New(t0)
	b, err := New(engine.MountConfig{Path: "secret/", Type: "kv", Options: map[string]string{"version": version}}, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, b: b, st: enginetest.NewStorage(), clock: c}
}

// body decodes a JSON request body as the core does, numbers as
// json.Number; "" is no body.
func body(t testing.TB, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad test body %s: %v", s, err)
	}
	return m
}

func (e *env) call(op engine.Operation, path, data string) (*engine.Response, error) {
	e.t.Helper()
	return e.callMap(op, path, body(e.t, data))
}

func (e *env) callMap(op engine.Operation, path string, data map[string]any) (*engine.Response, error) {
	e.t.Helper()
	return engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
		Operation: op, Path: path, MountPath: "secret/", Data: data, Storage: e.st,
	})
}

// ok makes a call that must succeed.
func (e *env) ok(op engine.Operation, path, data string) *engine.Response {
	e.t.Helper()
	resp, err := e.call(op, path, data)
	if err != nil {
		e.t.Fatalf("%s %s %s: %v", op, path, data, err)
	}
	return resp
}

// put writes data (a JSON object) to key and returns the new version's
// metadata.
func (e *env) put(key, data string) map[string]any {
	e.t.Helper()
	resp := e.ok(engine.Update, "data/"+key, `{"data":`+data+`}`)
	if resp == nil || resp.Status != 0 {
		e.t.Fatalf("write %s: %+v", key, resp)
	}
	return resp.Data
}

// fails makes a call that must fail with kind and exactly msg.
func (e *env) fails(op engine.Operation, path, data string, kind fail.Kind, msg string) {
	e.t.Helper()
	resp, err := e.call(op, path, data)
	if err == nil {
		e.t.Fatalf("%s %s %s: want error %q, got %+v", op, path, data, msg, resp)
	}
	if fail.KindOf(err) != kind || fail.Message(err) != msg {
		e.t.Fatalf("%s %s %s:\n got %v %q\nwant %v %q", op, path, data, fail.KindOf(err), fail.Message(err), kind, msg)
	}
}

// js renders v as compact JSON with sorted keys, for exact comparisons.
func js(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON compares v with the JSON text want, ignoring whitespace.
func sameJSON(t testing.TB, what string, v any, want string) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(want)); err != nil {
		t.Fatalf("bad want for %s: %v", what, err)
	}
	if got := js(t, v); got != buf.String() {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, buf.String())
	}
}

// countingStorage counts Gets.
type countingStorage struct {
	engine.Storage
	mu   sync.Mutex
	gets int
}

func (c *countingStorage) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Storage.Get(ctx, key)
}
