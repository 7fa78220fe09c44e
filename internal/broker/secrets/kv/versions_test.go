package kv

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// state reads version n of key: its HTTP status, data and metadata.
func (e *env) state(key string, n int) (status int, data any, meta map[string]any) {
	e.t.Helper()
	resp := e.ok(engine.Read, "data/"+key, fmt.Sprintf(`{"version":%d}`, n))
	if resp == nil {
		return 404, nil, nil
	}
	status = resp.Status
	if status == 0 {
		status = 200
	}
	return status, resp.Data["data"], resp.Data["metadata"].(map[string]any)
}

func TestDeleteUndeleteDestroy(t *testing.T) {
	e := newEnv(t, "2")
	for i := 1; i <= 3; i++ {
		e.put("k", fmt.Sprintf(`{"i":%d}`, i))
	}
	e.clock.Add(time.Minute)

	if resp := e.ok(engine.Update, "delete/k", `{"versions":[1,2,7]}`); resp != nil {
		t.Errorf("delete answered %+v", resp)
	}
	for n, want := range map[int]int{1: 404, 2: 404, 3: 200} {
		if status, _, _ := e.state("k", n); status != want {
			t.Errorf("after delete, version %d: status %d, want %d", n, status, want)
		}
	}
	_, data, meta := e.state("k", 1)
	if data != nil || meta["deletion_time"] != ts(time.Minute) || meta["destroyed"] != false {
		t.Errorf("deleted version 1: data %v meta %v", data, meta)
	}

	e.ok(engine.Update, "undelete/k", `{"versions":[1]}`)
	status, data, meta := e.state("k", 1)
	if status != 200 || js(t, data) != `{"i":1}` || meta["deletion_time"] != "" {
		t.Errorf("undeleted version 1: %d %v %v", status, data, meta)
	}

	e.ok(engine.Update, "destroy/k", `{"versions":[2,3]}`)
	for _, n := range []int{2, 3} {
		status, data, meta := e.state("k", n)
		if status != 404 || data != nil || meta["destroyed"] != true {
			t.Errorf("destroyed version %d: %d %v %v", n, status, data, meta)
		}
		if raw, _ := e.st.Get(context.Background(), verKey("k", n)); raw != nil {
			t.Errorf("data of destroyed version %d still stored", n)
		}
	}
	// Version 2 was deleted before it was destroyed; it keeps its deletion time.
	if _, _, meta := e.state("k", 2); meta["deletion_time"] != ts(time.Minute) {
		t.Errorf("destroyed version 2 lost its deletion_time: %v", meta)
	}
	// Undelete cannot bring back a destroyed version.
	e.ok(engine.Update, "undelete/k", `{"versions":[2,3]}`)
	if status, _, _ := e.state("k", 3); status != 404 {
		t.Error("destroyed version 3 came back")
	}
	if _, _, meta := e.state("k", 2); meta["deletion_time"] != ts(time.Minute) {
		t.Errorf("undelete changed destroyed version 2: %v", meta)
	}
	// The metadata still lists destroyed versions.
	versions := e.ok(engine.Read, "metadata/k", "").Data["versions"].(map[string]any)
	if versions["3"].(map[string]any)["destroyed"] != true || len(versions) != 3 {
		t.Errorf("metadata versions: %v", versions)
	}
	// A latest delete of a destroyed version changes nothing.
	e.ok(engine.Delete, "data/k", "")
	if _, _, meta := e.state("k", 3); meta["deletion_time"] != "" {
		t.Errorf("delete of destroyed latest set deletion_time %v", meta["deletion_time"])
	}

	// A missing key is not an error and stores nothing.
	before := fmt.Sprint(e.st.Keys())
	for _, p := range []string{"delete", "undelete", "destroy"} {
		if resp := e.ok(engine.Update, p+"/missing", `{"versions":[1]}`); resp != nil {
			t.Errorf("%s of missing key: %+v", p, resp)
		}
	}
	if after := fmt.Sprint(e.st.Keys()); after != before {
		t.Errorf("storage changed: %s -> %s", before, after)
	}
}

func TestVersionsField(t *testing.T) {
	e := newEnv(t, "2")
	for i := 1; i <= 3; i++ {
		e.put("k", `{}`)
	}
	// Every form Vault's TypeCommaIntSlice takes.
	for _, tc := range []struct {
		body    string
		deleted []int
	}{
		{`{"versions":[1]}`, []int{1}},
		{`{"versions":"2, 3"}`, []int{2, 3}},
		{`{"versions":["1","3"]}`, []int{1, 3}},
		{`{"versions":2}`, []int{2}},
		{`{"versions":"3"}`, []int{3}},
	} {
		e.ok(engine.Update, "delete/k", tc.body)
		for n := 1; n <= 3; n++ {
			status, _, _ := e.state("k", n)
			if (status == 404) != slices.Contains(tc.deleted, n) {
				t.Errorf("%s: version %d status %d", tc.body, n, status)
			}
		}
		e.ok(engine.Update, "undelete/k", `{"versions":[1,2,3]}`)
	}

	const notInts = `error converting input for field "versions": expected a list of integers`
	for _, p := range []string{"delete", "undelete", "destroy"} {
		for _, tc := range []struct{ body, msg string }{
			{``, "no version number provided"},
			{`{"versions":[]}`, "no version number provided"},
			{`{"versions":""}`, "no version number provided"},
			{`{"versions":null}`, "no version number provided"},
			{`{"versions":["a"]}`, notInts},
			{`{"versions":[1.5]}`, notInts},
			{`{"versions":[1,null]}`, notInts},
			{`{"versions":true}`, notInts},
			{`{"versions":{"1":1}}`, notInts},
			{`{"versions":"1,x"}`, notInts},
		} {
			e.fails(engine.Update, p+"/k", tc.body, fail.Invalid, tc.msg)
		}
	}
	for n := 1; n <= 3; n++ {
		if status, _, _ := e.state("k", n); status != 200 {
			t.Errorf("a refused request changed version %d", n)
		}
	}
}

func TestSubkeys(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"foo":"abc","bar":{"a":{"b":"c"},"e":{}},"baz":[1,{"x":1}],"n":null}`)
	e.put("k", `{"only":{"one":1}}`)
	for _, tc := range []struct {
		query, want string
	}{
		{`{"version":1}`, `{"bar":{"a":{"b":null},"e":{}},"baz":null,"foo":null,"n":null}`},
		{`{"version":1,"depth":0}`, `{"bar":{"a":{"b":null},"e":{}},"baz":null,"foo":null,"n":null}`},
		{`{"version":1,"depth":1}`, `{"bar":null,"baz":null,"foo":null,"n":null}`},
		{`{"version":"1","depth":"2"}`, `{"bar":{"a":null,"e":null},"baz":null,"foo":null,"n":null}`},
		{`{"version":1,"depth":3}`, `{"bar":{"a":{"b":null},"e":{}},"baz":null,"foo":null,"n":null}`},
		{``, `{"only":{"one":null}}`},
	} {
		resp := e.ok(engine.Read, "subkeys/k", tc.query)
		if resp.Status != 0 {
			t.Fatalf("%s: status %d", tc.query, resp.Status)
		}
		sameJSON(t, "subkeys "+tc.query, resp.Data["subkeys"], tc.want)
	}
	sameJSON(t, "subkeys metadata", e.ok(engine.Read, "subkeys/k", "").Data["metadata"],
		`{"created_time":"`+ts(0)+`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}`)

	e.ok(engine.Delete, "data/k", "")
	resp := e.ok(engine.Read, "subkeys/k", "")
	if resp.Status != 404 || resp.Data["subkeys"] != nil || resp.Data["metadata"].(map[string]any)["version"] != 2 {
		t.Errorf("subkeys of deleted version: %+v", resp)
	}
	for _, path := range []string{"subkeys/missing", "subkeys/k?"} {
		if resp := e.ok(engine.Read, path, ""); resp != nil {
			t.Errorf("%s: %+v", path, resp)
		}
	}
	if resp := e.ok(engine.Read, "subkeys/k", `{"version":9}`); resp != nil {
		t.Errorf("missing version: %+v", resp)
	}
	e.fails(engine.Read, "subkeys/k", `{"depth":-1}`, fail.Invalid, "depth must be a non-negative integer")
	e.fails(engine.Read, "subkeys/k", `{"depth":"deep"}`, fail.Invalid, `error converting input for field "depth": expected an integer`)
}
