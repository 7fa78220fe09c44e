package approle

import (
	"context"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// TestTrailingSlashes pins how paths ending in "/" route: one trailing "/"
// is ignored, so role/<name>// is still the role, and an empty name is a
// bad name only where a name would make the path valid.
func TestTrailingSlashes(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", nil)
	for _, p := range []string{"role/r/", "role/r//", "role/r/role-id/"} {
		if resp, err := h.do(engine.Read, p, nil); err != nil || resp == nil {
			t.Errorf("read %s: %+v, %v", p, resp, err)
		}
	}
	for _, p := range []string{"role//", "role///", "role//secret-id/", "role//policies"} {
		_, err := h.do(engine.Update, p, nil)
		wantErr(t, err, fail.Invalid, "missing role_name")
	}
	for _, p := range []string{"role////", "role//unknown", "role/r/secret-id//", "role/x/y/z"} {
		_, err := h.do(engine.Read, p, nil)
		wantErr(t, err, fail.NotFound, "no handler for route")
	}
	// Only role/<name> (one trailing "/" ignored) tells create from update.
	ctx := context.Background()
	for path, want := range map[string]bool{"role/r/": true, "role/x/": false, "role//": false, "role/r//": true, "role///": true, "role//secret-id": true} {
		got, err := engine.Exists(ctx, h.b.Routes(), &engine.Request{Path: path, Storage: h.st})
		if err != nil || got != want {
			t.Errorf("Exists(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
	// "login/" is served, but needs a token.
	if p := h.b.Routes().PathOf("login/", engine.Update); p.Unauthenticated || p.Pattern != "login/" {
		t.Errorf("login/: %+v", p)
	}
}
