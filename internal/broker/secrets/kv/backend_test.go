package kv

import (
	"context"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestNewVersion(t *testing.T) {
	for _, tc := range []struct {
		typ, version string
		want         int
	}{
		{"kv", "", 1},
		{"kv", "1", 1},
		{"kv", "2", 2},
		{"kv-v2", "", 2},
		{"kv-v2", "2", 2},
		{"kv", "3", 0},
		{"kv", "v2", 0},
	} {
		b, err := New(engine.MountConfig{Type: tc.typ, Options: map[string]string{"version": tc.version}}, Options{})
		if tc.want == 0 {
			if !fail.Is(err, fail.Invalid) {
				t.Errorf("%s version %q: want invalid, got %v", tc.typ, tc.version, err)
			}
			continue
		}
		if err != nil || b.version != tc.want {
			t.Errorf("%s version %q: got %v, %v; want version %d", tc.typ, tc.version, b, err, tc.want)
		}
	}
}

func TestFactory(t *testing.T) {
	f := Factory(Options{})
	b, err := f(context.Background(), engine.MountConfig{Type: "kv", Options: map[string]string{"version": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Routes().PathOf("data/a", engine.Update).Exists == nil {
		t.Error("data/ has no existence check")
	}
	b, err = f(context.Background(), engine.MountConfig{Type: "kv", Options: map[string]string{"version": "9"}})
	if err == nil || b != nil { // a typed nil in the interface would look like a backend
		t.Errorf("bad version: got %#v, %v", b, err)
	}
}

func TestRoutingV2(t *testing.T) {
	e := newEnv(t, "2")
	invalid := []struct {
		op   engine.Operation
		path string
		sub  string
	}{
		{engine.Read, "foo", "get"},
		{engine.Update, "foo/bar", "put"},
		{engine.List, "foo/", "list"},
		{engine.Delete, "data", "delete"},
		{engine.Read, "config/x", "get"},
		{engine.Read, "", "get"},
	}
	for _, tc := range invalid {
		resp, err := e.call(tc.op, tc.path, "")
		if err != nil || resp == nil || resp.Status != 404 || resp.Data != nil || len(resp.Warnings) != 1 ||
			!strings.Contains(resp.Warnings[0], "Invalid path for a versioned K/V secrets engine.") ||
			!strings.HasSuffix(resp.Warnings[0], "use 'vault kv "+tc.sub+"' for this operation.") {
			t.Errorf("%s %q: got %+v, %v", tc.op, tc.path, resp, err)
		}
	}
	unsupported := []struct {
		op   engine.Operation
		path string
	}{
		{engine.Delete, "config"},
		{engine.List, "config"},
		{engine.List, "data/x"},
		{engine.Update, "subkeys/x"},
		{engine.Read, "delete/x"},
		{engine.Read, "undelete/x"},
		{engine.Delete, "destroy/x"},
		{engine.Patch, "config"},
	}
	for _, tc := range unsupported {
		e.fails(tc.op, tc.path, "", fail.Unsupported, "unsupported operation")
	}
}

func TestKeyNames(t *testing.T) {
	e := newEnv(t, "2")
	for _, path := range []string{"data/", "metadata/", "delete/", "undelete/", "destroy/"} {
		e.fails(engine.Update, path, `{"data":{"a":1},"versions":[1]}`, fail.Invalid, "missing path")
	}
	e.fails(engine.Delete, "data/", "", fail.Invalid, "missing path")
	for _, key := range []string{"a/", "/a", "a//b"} {
		e.fails(engine.Update, "data/"+key, `{"data":{"a":1}}`, fail.Invalid,
			`invalid path "`+key+`": a key name may not begin or end with "/" or contain "//"`)
	}
	for _, path := range []string{"data/", "data/a/", "metadata/", "subkeys/a//b"} {
		if resp, err := e.call(engine.Read, path, ""); resp != nil || err != nil {
			t.Errorf("read %s: got %+v, %v; want nothing", path, resp, err)
		}
	}
	if keys := e.st.Keys(); len(keys) != 0 {
		t.Errorf("refused writes stored %v", keys)
	}
	// Nested names are ordinary keys.
	e.put("team/app/db", `{"a":1}`)
	if resp := e.ok(engine.Read, "data/team/app/db", ""); resp == nil {
		t.Error("nested key not readable")
	}
}

func TestExists(t *testing.T) {
	e := newEnv(t, "2")
	exists := func(path string) bool {
		t.Helper()
		ok, err := engine.Exists(context.Background(), e.b.Routes(), &engine.Request{Operation: engine.Update, Path: path, Storage: e.st})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, path := range []string{"data/a", "metadata/a", "data/", "data", "metadata/a//b"} {
		if exists(path) {
			t.Errorf("%s exists before any write", path)
		}
	}
	for _, path := range []string{"config", "delete/a", "undelete/a", "destroy/a"} {
		if !exists(path) {
			t.Errorf("%s: a path without an existence check must report an update", path)
		}
	}
	e.ok(engine.Update, "metadata/a", `{"max_versions":3}`) // metadata without a version
	e.put("b", `{"x":1}`)
	for _, path := range []string{"data/a", "metadata/a", "data/b", "metadata/b"} {
		if !exists(path) {
			t.Errorf("%s does not exist after a write", path)
		}
	}
	e.ok(engine.Delete, "metadata/b", "")
	if exists("data/b") {
		t.Error("data/b exists after metadata delete")
	}

	v1 := newEnv(t, "1")
	ok, err := engine.Exists(context.Background(), v1.b.Routes(), &engine.Request{Path: "k", Storage: v1.st})
	if ok || err != nil {
		t.Errorf("v1 before write: %v, %v", ok, err)
	}
	v1.ok(engine.Update, "k", `{"a":1}`)
	ok, err = engine.Exists(context.Background(), v1.b.Routes(), &engine.Request{Path: "k", Storage: v1.st})
	if !ok || err != nil {
		t.Errorf("v1 after write: %v, %v", ok, err)
	}
}

func TestV1(t *testing.T) {
	e := newEnv(t, "1")
	if resp := e.ok(engine.Update, "app/db", `{"password":"p","port":5432,"nested":{"x":[1,"y"]}}`); resp != nil {
		t.Errorf("write answered %+v", resp)
	}
	e.ok(engine.Create, "app/api", `{"token":"t"}`)
	e.ok(engine.Update, "top", `{"a":"b"}`)

	resp := e.ok(engine.Read, "app/db", "")
	sameJSON(t, "v1 read", resp.Data, `{"nested":{"x":[1,"y"]},"password":"p","port":5432}`)
	if resp.Secret != nil {
		t.Error("v1 read must not create a lease")
	}
	sameJSON(t, "list root", e.ok(engine.List, "", "").Data, `{"keys":["app/","top"]}`)
	sameJSON(t, "list app", e.ok(engine.List, "app", "").Data, `{"keys":["api","db"]}`)
	sameJSON(t, "list app/", e.ok(engine.List, "app/", "").Data, `{"keys":["api","db"]}`)
	if resp := e.ok(engine.List, "nope/", ""); resp != nil {
		t.Errorf("empty list: %+v", resp)
	}

	e.ok(engine.Update, "top", `{"c":"d"}`) // a write replaces the whole secret
	sameJSON(t, "overwritten", e.ok(engine.Read, "top", "").Data, `{"c":"d"}`)

	e.ok(engine.Delete, "app/db", "")
	if resp := e.ok(engine.Read, "app/db", ""); resp != nil {
		t.Errorf("read after delete: %+v", resp)
	}
	e.ok(engine.Delete, "app/db", "") // deleting what is gone is fine

	e.fails(engine.Update, "k", "", fail.Invalid, "missing data fields")
	e.fails(engine.Update, "k", `{}`, fail.Invalid, "missing data fields")
	e.fails(engine.Update, "", `{"a":1}`, fail.Invalid, "missing path")
	e.fails(engine.Update, "k/", `{"a":1}`, fail.Invalid, `invalid path "k/": a key name may not begin or end with "/" or contain "//"`)
	e.fails(engine.Patch, "top", `{"a":1}`, fail.Unsupported, "unsupported operation")
	if resp := e.ok(engine.Read, "missing", ""); resp != nil {
		t.Errorf("missing key: %+v", resp)
	}
}
