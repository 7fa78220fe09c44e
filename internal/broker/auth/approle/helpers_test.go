package approle

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/clocktest"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

type harness struct {
	t     testing.TB
	b     *Backend
	st    *enginetest.Storage
	clock *clocktest.Clock
}

const defaultAddr = "10.1.2.3"

func newHarness(t testing.TB) *harness {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b, err := New(engine.MountConfig{Path: "auth/approle/", Type: "approle", DefaultLeaseTTL: time.Hour, MaxLeaseTTL: 24 * time.Hour},
		Options{Now: c.Now, HMACKey: secret.New(key)})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, b: b, st: enginetest.NewStorage(), clock: c}
}

// do sends one request from defaultAddr.
func (h *harness) do(op engine.Operation, path string, data map[string]any) (*engine.Response, error) {
	return h.doFrom(defaultAddr, op, path, data)
}

func (h *harness) doFrom(addr string, op engine.Operation, path string, data map[string]any) (*engine.Response, error) {
	req := &engine.Request{Operation: op, Path: path, MountPath: "auth/approle/", Data: viaJSON(h.t, data), Storage: h.st}
	if addr != "" {
		req.RemoteAddr = netip.MustParseAddr(addr)
	}
	resp, err := engine.Serve(context.Background(), h.b.Routes(), req)
	if err != nil && resp != nil {
		h.t.Fatalf("%s %s: a response with an error: %+v", op, path, resp)
	}
	return resp, err
}

func (h *harness) must(op engine.Operation, path string, data map[string]any) *engine.Response {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	if err != nil {
		h.t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

func (h *harness) createRole(name string, data map[string]any) {
	h.t.Helper()
	h.must(engine.Create, "role/"+name, data)
}

func (h *harness) roleID(name string) string {
	h.t.Helper()
	return h.must(engine.Read, "role/"+name+"/role-id", nil).Data["role_id"].(string)
}

// secretID issues a secret ID and returns it and its accessor.
func (h *harness) secretID(name string, data map[string]any) (string, string) {
	h.t.Helper()
	resp := h.must(engine.Update, "role/"+name+"/secret-id", data)
	return resp.Data["secret_id"].(string), resp.Data["secret_id_accessor"].(string)
}

func (h *harness) login(addr, roleID, secretID string) (*engine.Response, error) {
	return h.doFrom(addr, engine.Update, "login", map[string]any{"role_id": roleID, "secret_id": secretID})
}

// viaJSON gives data the types a JSON body decodes to (json.Number for
// numbers), as the core hands it over.
func viaJSON(t testing.TB, data map[string]any) map[string]any {
	out := map[string]any{}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// wantErr fails unless err is of kind k with a message containing msg.
func wantErr(t testing.TB, err error, k fail.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %q", k, msg)
	}
	if fail.KindOf(err) != k || !strings.Contains(fail.Message(err), msg) {
		t.Fatalf("error %v (%v), want %v containing %q", err, fail.KindOf(err), k, msg)
	}
}

// wantLoginDenied checks a login failed with msg and produced nothing.
func wantLoginDenied(t testing.TB, resp *engine.Response, err error, msg string) {
	t.Helper()
	if resp != nil {
		t.Fatalf("denied login returned a response: %+v", resp)
	}
	wantErr(t, err, fail.Invalid, msg)
}

// wantLoginOK(t)(h.login(...)) checks a login succeeded and returns its Auth.
func wantLoginOK(t testing.TB) func(*engine.Response, error) *engine.Auth {
	return func(resp *engine.Response, err error) *engine.Auth {
		t.Helper()
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if resp == nil || resp.Auth == nil {
			t.Fatalf("login: no auth in %+v", resp)
		}
		return resp.Auth
	}
}
