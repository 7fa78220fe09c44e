package kv

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

func TestConfig(t *testing.T) {
	e := newEnv(t, "2")
	sameJSON(t, "defaults", e.ok(engine.Read, "config", "").Data, `{"cas_required":false,"delete_version_after":"0s","max_versions":0}`)

	if resp := e.ok(engine.Update, "config", `{"max_versions":5,"delete_version_after":"3h"}`); resp != nil {
		t.Errorf("config write answered %+v", resp)
	}
	sameJSON(t, "set", e.ok(engine.Read, "config", "").Data, `{"cas_required":false,"delete_version_after":"3h0m0s","max_versions":5}`)
	e.ok(engine.Create, "config", `{"cas_required":"true","delete_version_after":90}`) // fields not given keep their values
	sameJSON(t, "partial", e.ok(engine.Read, "config", "").Data, `{"cas_required":true,"delete_version_after":"1m30s","max_versions":5}`)
	e.ok(engine.Update, "config", `{"max_versions":0,"delete_version_after":"0s"}`)
	sameJSON(t, "reset", e.ok(engine.Read, "config", "").Data, `{"cas_required":true,"delete_version_after":"0s","max_versions":0}`)

	for _, tc := range []struct{ body, msg string }{
		{`{"max_versions":"many"}`, `error converting input for field "max_versions": expected an integer`},
		{`{"max_versions":-1}`, "max_versions cannot be negative"},
		{`{"cas_required":"maybe"}`, `error converting input for field "cas_required": expected a boolean`},
		{`{"delete_version_after":"soon"}`, `error converting input for field "delete_version_after": expected a duration (seconds, or a string like "30m" or "1h")`},
		{`{"delete_version_after":-1}`, "delete_version_after cannot be negative"},
	} {
		e.fails(engine.Update, "config", tc.body, fail.Invalid, tc.msg)
	}
	resp := e.ok(engine.Update, "config", `{"max_version":3}`)
	if resp == nil || len(resp.Warnings) != 1 || resp.Warnings[0] != "Endpoint ignored these unrecognized parameters: [max_version]" {
		t.Errorf("unknown field: %+v", resp)
	}
	sameJSON(t, "after refusals", e.ok(engine.Read, "config", "").Data, `{"cas_required":true,"delete_version_after":"0s","max_versions":0}`)
}

func TestMetadataRead(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"a":1}`)
	e.clock.Add(time.Minute)
	e.put("k", `{"a":2}`)
	e.clock.Add(time.Minute)
	e.ok(engine.Delete, "data/k", "")
	sameJSON(t, "metadata", e.ok(engine.Read, "metadata/k", "").Data, `{
		"cas_required":false,"created_time":"`+ts(0)+`","current_version":2,"custom_metadata":null,
		"delete_version_after":"0s","max_versions":0,"oldest_version":0,"updated_time":"`+ts(time.Minute)+`",
		"versions":{
			"1":{"created_time":"`+ts(0)+`","deletion_time":"","destroyed":false},
			"2":{"created_time":"`+ts(time.Minute)+`","deletion_time":"`+ts(2*time.Minute)+`","destroyed":false}}}`)
	if resp := e.ok(engine.Read, "metadata/missing", ""); resp != nil {
		t.Errorf("missing key: %+v", resp)
	}
}

func TestMetadataWrite(t *testing.T) {
	e := newEnv(t, "2")
	resp := e.ok(engine.Update, "metadata/k", `{"max_versions":4,"cas_required":true,"delete_version_after":"1h","custom_metadata":{"owner":"ops","tier":"1"}}`)
	if resp != nil {
		t.Errorf("metadata write answered %+v", resp)
	}
	sameJSON(t, "created without a version", e.ok(engine.Read, "metadata/k", "").Data, `{
		"cas_required":true,"created_time":"`+ts(0)+`","current_version":0,"custom_metadata":{"owner":"ops","tier":"1"},
		"delete_version_after":"1h0m0s","max_versions":4,"oldest_version":0,"updated_time":"`+ts(0)+`","versions":{}}`)
	if resp := e.ok(engine.Read, "data/k", ""); resp != nil {
		t.Errorf("data of a key without versions: %+v", resp)
	}

	// The first version needs cas 0 and carries the custom metadata.
	e.clock.Add(time.Minute)
	got := e.ok(engine.Update, "data/k", `{"data":{"a":1},"options":{"cas":0}}`).Data
	sameJSON(t, "first version", got, `{"created_time":"`+ts(time.Minute)+`","custom_metadata":{"owner":"ops","tier":"1"},"deletion_time":"`+
		ts(time.Minute+time.Hour)+`","destroyed":false,"version":1}`)

	// A write replaces custom_metadata whole and keeps what it does not name.
	e.clock.Add(time.Minute)
	e.ok(engine.Update, "metadata/k", `{"custom_metadata":{"team":"a"}}`)
	d := e.ok(engine.Read, "metadata/k", "").Data
	if js(t, d["custom_metadata"]) != `{"team":"a"}` || d["max_versions"] != 4 || d["cas_required"] != true ||
		d["current_version"] != 1 || d["updated_time"] != ts(2*time.Minute) || d["created_time"] != ts(0) {
		t.Errorf("after write: %v", d)
	}
	// k=v pairs are accepted, as by Vault's CLI.
	e.ok(engine.Update, "metadata/k", `{"custom_metadata":"a=1,b=2"}`)
	sameJSON(t, "pairs", e.ok(engine.Read, "metadata/k", "").Data["custom_metadata"], `{"a":"1","b":"2"}`)
	e.ok(engine.Update, "metadata/k", `{"custom_metadata":{}}`)
	if cm := e.ok(engine.Read, "metadata/k", "").Data["custom_metadata"]; cm != nil {
		t.Errorf("emptied custom_metadata reads as %v", cm)
	}
}

func TestMetadataPatch(t *testing.T) {
	e := newEnv(t, "2")
	e.ok(engine.Update, "metadata/k", `{"max_versions":4,"cas_required":true,"custom_metadata":{"a":"1","b":"2"}}`)
	e.ok(engine.Patch, "metadata/k", `{"custom_metadata":{"a":null,"c":"3"},"max_versions":6}`)
	d := e.ok(engine.Read, "metadata/k", "").Data
	if js(t, d["custom_metadata"]) != `{"b":"2","c":"3"}` || d["max_versions"] != 6 || d["cas_required"] != true {
		t.Errorf("after patch: %v", d)
	}
	// null resets a setting, as a merge patch removes it.
	e.ok(engine.Patch, "metadata/k", `{"cas_required":null,"custom_metadata":null}`)
	d = e.ok(engine.Read, "metadata/k", "").Data
	if d["custom_metadata"] != nil || d["cas_required"] != false || d["max_versions"] != 6 {
		t.Errorf("after null patch: %v", d)
	}
	if resp := e.ok(engine.Patch, "metadata/missing", `{"max_versions":1}`); resp == nil || resp.Status != 404 {
		t.Errorf("patch of missing key: %+v", resp)
	}
	if resp := e.ok(engine.Read, "metadata/missing", ""); resp != nil {
		t.Errorf("patch created the key: %+v", resp)
	}
	e.fails(engine.Patch, "metadata/k", `{"custom_metadata":{"a":1}}`, fail.Invalid, `error converting input for field "custom_metadata": expected a map of strings`)
}

func TestCustomMetadataLimits(t *testing.T) {
	e := newEnv(t, "2")
	many := map[string]any{}
	for i := 0; i < 65; i++ {
		many[fmt.Sprintf("k%02d", i)] = "v"
	}
	long := strings.Repeat("x", 129)
	const p = "custom_metadata validation failed: "
	for _, tc := range []struct {
		custom any
		msg    string
	}{
		{many, p + "payload must contain at most 64 keys, provided 65"},
		{map[string]any{long: "v"}, p + `length of key "` + long + `" is 129 but must be 0 < len(key) <= 128`},
		{map[string]any{"": "v"}, p + `length of key "" is 0 but must be 0 < len(key) <= 128`},
		{map[string]any{"k": strings.Repeat("v", 513)}, p + `length of value for key "k" is 513 but must be <= 512`},
		{map[string]any{"k\x00": "v"}, p + `key "k\x00" contains unprintable characters`},
		{map[string]any{"k": "v\n", "j": "\t"}, p + `value for key "j" contains unprintable characters; ` + p + `value for key "k" contains unprintable characters`},
		{map[string]any{"k": 1}, `error converting input for field "custom_metadata": expected a map of strings`},
		{[]any{"nopair"}, `error converting input for field "custom_metadata": expected a map of strings or a list of key=value pairs`},
	} {
		for _, op := range []engine.Operation{engine.Update, engine.Patch} {
			if op == engine.Patch && tc.msg[0] == 'e' {
				continue // patch has its own type message, tested above
			}
			e.ok(engine.Update, "metadata/k", `{}`)
			_, err := e.callMap(op, "metadata/k", map[string]any{"custom_metadata": tc.custom})
			if !fail.Is(err, fail.Invalid) || fail.Message(err) != tc.msg {
				t.Errorf("%s %.40v:\n got %v\nwant %s", op, tc.custom, err, tc.msg)
			}
		}
	}
	e.ok(engine.Update, "metadata/k", `{"custom_metadata":{"ok":"ünïcode is printable"}}`)
}

func TestMetadataDelete(t *testing.T) {
	e := newEnv(t, "2")
	e.ok(engine.Update, "config", `{"max_versions":5}`)
	for i := 0; i < 3; i++ {
		e.put("k", `{"a":1}`)
	}
	e.put("k/child", `{"b":1}`)
	if resp := e.ok(engine.Delete, "metadata/k", ""); resp != nil {
		t.Errorf("delete answered %+v", resp)
	}
	if got := fmt.Sprint(e.st.Keys()); got != "[config meta/k/child ver/k/child/1]" {
		t.Errorf("storage after delete: %s", got)
	}
	for _, path := range []string{"metadata/k", "data/k"} {
		if resp := e.ok(engine.Read, path, ""); resp != nil {
			t.Errorf("%s after delete: %+v", path, resp)
		}
	}
	if resp := e.ok(engine.Delete, "metadata/k", ""); resp != nil {
		t.Errorf("second delete: %+v", resp)
	}
	// The name is free again: cas 0 works.
	e.ok(engine.Update, "data/k", `{"data":{"a":1},"options":{"cas":0}}`)
}

func TestListMetadata(t *testing.T) {
	e := newEnv(t, "2")
	if resp := e.ok(engine.List, "metadata/", ""); resp != nil {
		t.Errorf("empty mount: %+v", resp)
	}
	for _, k := range []string{"a", "b/c", "b/d/e", "b/d/f", "a/x"} {
		e.put(k, `{}`)
	}
	e.ok(engine.Update, "metadata/bare", `{}`)
	for _, tc := range []struct{ path, want string }{
		{"metadata", `["a","a/","b/","bare"]`},
		{"metadata/", `["a","a/","b/","bare"]`},
		{"metadata/b", `["c","d/"]`},
		{"metadata/b/", `["c","d/"]`},
		{"metadata/b/d/", `["e","f"]`},
	} {
		resp := e.ok(engine.List, tc.path, "")
		sameJSON(t, "list "+tc.path, resp.Data, `{"keys":`+tc.want+`}`)
	}
	for _, path := range []string{"metadata/nope/", "metadata/b/c/", "metadata/b//", "metadata//"} {
		if resp := e.ok(engine.List, path, ""); resp != nil {
			t.Errorf("list %s: %+v", path, resp)
		}
	}

	e.ok(engine.Delete, "data/b/c", "")
	e.ok(engine.Update, "destroy/b/d/e", `{"versions":[1]}`)
	for _, tc := range []struct{ path, want string }{
		{"metadata/", `["a","a/","b/"]`}, // bare has no version
		{"metadata/b/", `["d/"]`},        // folders stay
		{"metadata/b/d/", `["f"]`},
	} {
		resp := e.ok(engine.List, tc.path, `{"exclude_deleted":"true"}`)
		sameJSON(t, "exclude_deleted "+tc.path, resp.Data, `{"keys":`+tc.want+`}`)
	}
	e.ok(engine.Delete, "data/b/d/f", "")
	if resp := e.ok(engine.List, "metadata/b/d", `{"exclude_deleted":true}`); resp != nil {
		t.Errorf("all deleted: %+v", resp)
	}
	sameJSON(t, "without exclude_deleted", e.ok(engine.List, "metadata/b/d", `{"exclude_deleted":false}`).Data, `{"keys":["e","f"]}`)
	e.fails(engine.List, "metadata/", `{"exclude_deleted":"perhaps"}`, fail.Invalid, `error converting input for field "exclude_deleted": expected a boolean`)
}
