package jwt

import (
	"context"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// The core relies on this interface being implemented.
var _ engine.Backend = (*Backend)(nil)

func TestRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		op   engine.Operation
		path string
		kind fail.Kind
		msg  string
	}{
		{engine.Read, "login", fail.Unsupported, "unsupported operation"},
		{engine.Delete, "config", fail.Unsupported, "unsupported operation"},
		{engine.List, "config", fail.Unsupported, "unsupported operation"},
		{engine.Read, "role", fail.Unsupported, "unsupported operation"},
		{engine.List, "role/ci", fail.Unsupported, "unsupported operation"},
		{engine.Read, "oidc/auth_url", fail.NotFound, `no handler for route "auth/jwt/oidc/auth_url". route entry not found.`},
		{engine.Read, "", fail.NotFound, "no handler for route"},
	}
	for _, tt := range tests {
		_, err := e.call(tt.op, tt.path, nil)
		wantErr(t, err, tt.kind, tt.msg)
	}
	// Create, which the core sends when Exists says so, works like update.
	if _, err := e.call(engine.Create, "role/new", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"}); err != nil {
		t.Fatal(err)
	}
}

func TestSpecialPaths(t *testing.T) {
	b, _ := New(engine.MountConfig{}, Options{})
	// Only the login needs no token; nothing needs sudo.
	for _, path := range []string{"login", "login/", "config", "role", "role/", "role/x", "other"} {
		for _, op := range []engine.Operation{engine.Read, engine.Update, engine.List, engine.Delete} {
			p := b.Routes().PathOf(path, op)
			if p.Unauthenticated != (path == "login") || p.Sudo {
				t.Fatalf("%s %s: unauthenticated %v, sudo %v", op, path, p.Unauthenticated, p.Sudo)
			}
		}
	}
	if b.client == nil || b.client.Timeout == 0 || b.now == nil {
		t.Fatalf("defaults not set: %+v", b)
	}
}

func TestFactory(t *testing.T) {
	c := newClock()
	be, err := Factory(opts(c, nil))(context.Background(), engine.MountConfig{Path: "auth/ci-jwt/", Type: "jwt"})
	if err != nil {
		t.Fatal(err)
	}
	b, ok := be.(*Backend)
	if !ok || b.conf.Path != "auth/ci-jwt/" || !b.now().Equal(start) {
		t.Fatalf("Factory built %+v", be)
	}
}
