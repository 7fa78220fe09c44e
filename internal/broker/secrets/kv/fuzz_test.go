package kv

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// object decodes s as the core decodes a body; ok is false when s is not a
// JSON object.
func object(s string) (map[string]any, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		return nil, false
	}
	return m, true
}

// FuzzWriteRead checks that any JSON object written under any key name is
// either refused as invalid or reads back exactly, on both versions.
func FuzzWriteRead(f *testing.F) {
	for _, seed := range []struct{ key, data string }{
		{"k", `{"a":"b"}`},
		{"a/b/c", `{"n":12345678901234567890123,"f":-1.0e-7,"z":0,"neg":-0}`},
		{"x", `{"nested":{"l":[null,true,false,"",{"":{}}]},"u":"\u2028\ud800<&>"}`},
		{"a//b", `{}`},
		{"/", `{"a":1}`},
		{"", `{"a":1}`},
		{"k", `[1]`},
	} {
		f.Add(seed.key, seed.data)
	}
	f.Fuzz(func(t *testing.T, key, data string) {
		in, ok := object(data)
		if !ok {
			return
		}
		want := js(t, in)
		for _, version := range []string{"1", "2"} {
			e := newEnv(t, version)
			path, body := key, in
			if version == "2" {
				path, body = "data/"+key, map[string]any{"data": in}
			}
			_, err := e.callMap(engine.Update, path, body)
			if err != nil {
				if !fail.Is(err, fail.Invalid) {
					t.Fatalf("v%s write %q: non-400 error %v", version, key, err)
				}
				continue
			}
			resp, err := e.callMap(engine.Read, path, nil)
			if err != nil || resp == nil || resp.Status != 0 {
				t.Fatalf("v%s read %q: %+v, %v", version, key, resp, err)
			}
			got := resp.Data
			if version == "2" {
				got = resp.Data["data"].(map[string]any)
			}
			if !reflect.DeepEqual(got, in) || js(t, got) != want {
				t.Fatalf("v%s %q round trip:\n got %s\nwant %s", version, key, js(t, got), want)
			}
		}
	})
}

func TestMergePatch(t *testing.T) {
	// Cases from RFC 7396 appendix A whose target and patch are objects.
	for _, tc := range []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"a":"foo"}`, `{"a":{"b":null,"c":1}}`, `{"a":{"c":1}}`},
	} {
		target := body(t, tc.target)
		before := js(t, target)
		got := mergePatch(target, body(t, tc.patch))
		sameJSON(t, tc.target+" + "+tc.patch, got, tc.want)
		if js(t, target) != before {
			t.Errorf("%s + %s modified the target", tc.target, tc.patch)
		}
	}
}

// FuzzPatch checks a data patch against the definition of RFC 7396 merge
// patch, and that patching twice changes nothing more.
func FuzzPatch(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":1,"b":{"c":2}}`, `{"b":{"c":null,"d":[1]},"e":null}`},
		{`{"a":{"b":{"c":1}}}`, `{"a":{"b":null}}`},
		{`{"a":[1,2]}`, `{"a":{"x":null}}`},
		{`{}`, `{"a":{"b":{"c":null}}}`},
		{`{"a":"x"}`, `{}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, docJSON, patchJSON string) {
		doc, ok1 := object(docJSON)
		patch, ok2 := object(patchJSON)
		if !ok1 || !ok2 {
			return
		}
		e := newEnv(t, "2")
		if _, err := e.callMap(engine.Update, "data/k", map[string]any{"data": doc}); err != nil {
			t.Fatal(err)
		}
		read := func() map[string]any {
			resp, err := e.callMap(engine.Read, "data/k", nil)
			if err != nil || resp == nil {
				t.Fatalf("read: %+v, %v", resp, err)
			}
			return resp.Data["data"].(map[string]any)
		}
		for range 2 {
			resp, err := e.callMap(engine.Patch, "data/k", map[string]any{"data": patch})
			if err != nil || resp == nil || resp.Status != 0 {
				t.Fatalf("patch: %+v, %v", resp, err)
			}
			got := read()
			checkMerge(t, "", doc, patch, got)
			doc = got
		}
	})
}

// checkMerge fails unless got is target merge-patched with patch: every
// patch member null is absent, every object member is merged recursively,
// every other member replaces, and members the patch does not name are
// unchanged.
func checkMerge(t *testing.T, at string, target any, patch, got map[string]any) {
	t.Helper()
	tm, _ := target.(map[string]any)
	for k, pv := range patch {
		gv, present := got[k]
		switch p := pv.(type) {
		case nil:
			if present {
				t.Fatalf("%s/%s: null in the patch did not remove the member", at, k)
			}
		case map[string]any:
			gm, isMap := gv.(map[string]any)
			if !isMap {
				t.Fatalf("%s/%s: object in the patch gave %v", at, k, gv)
			}
			checkMerge(t, at+"/"+k, tm[k], p, gm)
		default:
			if !present || !reflect.DeepEqual(gv, pv) {
				t.Fatalf("%s/%s: got %v, want the patch's %v", at, k, gv, pv)
			}
		}
	}
	for k, gv := range got {
		if _, named := patch[k]; named {
			continue
		}
		if tv, present := tm[k]; !present || !reflect.DeepEqual(tv, gv) {
			t.Fatalf("%s/%s: member not in the patch changed from %v to %v", at, k, tv, gv)
		}
	}
	for k := range tm {
		if _, named := patch[k]; !named {
			if _, present := got[k]; !present {
				t.Fatalf("%s/%s: member not in the patch was removed", at, k)
			}
		}
	}
}

func BenchmarkRead(b *testing.B) {
	e := newEnv(b, "2")
	e.put("app/db", `{"username":"app","password":"0123456789abcdef0123456789abcdef","port":5432,"opts":{"ssl":true}}`)
	req := &engine.Request{Operation: engine.Read, Path: "data/app/db", Storage: e.st}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := engine.Serve(b.Context(), e.b.Routes(), req)
		if err != nil || resp == nil {
			b.Fatal(resp, err)
		}
	}
}
