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

func TestWriteRead(t *testing.T) {
	e := newEnv(t, "2")
	got := e.put("app", `{"user":"u","big":12345678901234567890,"f":1.50,"n":null,"o":{"l":[true,{}]}}`)
	sameJSON(t, "write", got, `{"created_time":"`+ts(0)+`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`)

	e.clock.Add(time.Minute)
	e.put("app", `{"user":"v"}`)

	resp := e.ok(engine.Read, "data/app", "")
	if resp.Status != 0 {
		t.Fatalf("status %d", resp.Status)
	}
	sameJSON(t, "read latest", resp.Data, `{"data":{"user":"v"},"metadata":{"created_time":"`+ts(time.Minute)+
		`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}}`)

	// Numbers read back digit for digit, not through float64.
	resp = e.ok(engine.Read, "data/app", `{"version":"1"}`)
	sameJSON(t, "read v1", resp.Data["data"], `{"big":12345678901234567890,"f":1.50,"n":null,"o":{"l":[true,{}]},"user":"u"}`)

	// A body decoded without UseNumber (float64) works too.
	if _, err := e.callMap(engine.Update, "data/floats", map[string]any{"data": map[string]any{"x": 1.5}}); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "floats", e.ok(engine.Read, "data/floats", "").Data["data"], `{"x":1.5}`)

	// An empty object is a valid secret.
	e.put("empty", `{}`)
	sameJSON(t, "empty", e.ok(engine.Read, "data/empty", "").Data["data"], `{}`)
}

func TestReadVersions(t *testing.T) {
	e := newEnv(t, "2")
	for i := 1; i <= 3; i++ {
		e.put("k", fmt.Sprintf(`{"i":%d}`, i))
	}
	for _, tc := range []struct {
		query, want string
	}{
		{``, `{"i":3}`},
		{`{"version":0}`, `{"i":3}`},
		{`{"version":2}`, `{"i":2}`},
		{`{"version":"1"}`, `{"i":1}`},
	} {
		resp := e.ok(engine.Read, "data/k", tc.query)
		sameJSON(t, "read "+tc.query, resp.Data["data"], tc.want)
	}
	for _, q := range []string{`{"version":4}`, `{"version":-1}`} {
		if resp := e.ok(engine.Read, "data/k", q); resp != nil {
			t.Errorf("%s: got %+v, want nothing", q, resp)
		}
	}
	if resp := e.ok(engine.Read, "data/missing", ""); resp != nil {
		t.Errorf("missing key: %+v", resp)
	}
	e.fails(engine.Read, "data/k", `{"version":"two"}`, fail.Invalid, `error converting input for field "version": expected an integer`)
}

func TestLatestReadIsTwoGets(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"a":1}`)
	cs := &countingStorage{Storage: e.st}
	resp, err := engine.Serve(context.Background(), e.b.Routes(), &engine.Request{Operation: engine.Read, Path: "data/k", Storage: cs})
	if err != nil || resp == nil {
		t.Fatal(resp, err)
	}
	if cs.gets != 2 {
		t.Errorf("latest read took %d Gets, want 2", cs.gets)
	}
}

func TestWriteBadInput(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"a":1}`)
	for _, tc := range []struct {
		body, msg string
	}{
		{``, "no data provided"},
		{`{}`, "no data provided"},
		{`{"data":null}`, "no data provided"},
		{`{"options":{"cas":1}}`, "no data provided"},
		{`{"data":"x"}`, `error converting input for field "data": expected an object`},
		{`{"data":[1,2]}`, `error converting input for field "data": expected an object`},
		{`{"data":7}`, `error converting input for field "data": expected an object`},
		{`{"data":{},"options":"cas=1"}`, `error converting input for field "options": expected an object`},
		{`{"data":{},"options":{"cas":"one"}}`, "error parsing check-and-set parameter"},
		{`{"data":{},"options":{"cas":1.5}}`, "error parsing check-and-set parameter"},
		{`{"data":{},"options":{"cas":true}}`, "error parsing check-and-set parameter"},
		{`{"data":{},"options":{"cas":[1]}}`, "error parsing check-and-set parameter"},
	} {
		for _, op := range []engine.Operation{engine.Update, engine.Patch} {
			e.fails(op, "data/k", tc.body, fail.Invalid, tc.msg)
		}
	}
	sameJSON(t, "after refused writes", e.ok(engine.Read, "data/k", "").Data["data"], `{"a":1}`)

	resp := e.ok(engine.Update, "data/k", `{"data":{"b":2},"extra":1}`)
	if len(resp.Warnings) != 1 || resp.Warnings[0] != "Endpoint ignored these unrecognized parameters: [extra]" {
		t.Errorf("warnings %q", resp.Warnings)
	}
}

func TestCheckAndSet(t *testing.T) {
	const (
		mismatch = "check-and-set parameter did not match the current version"
		required = "check-and-set parameter required for this call"
	)
	e := newEnv(t, "2")
	e.ok(engine.Update, "data/k", `{"data":{"v":1},"options":{"cas":0}}`) // cas 0 creates
	e.fails(engine.Update, "data/k", `{"data":{"v":2},"options":{"cas":0}}`, fail.Invalid, mismatch)
	e.fails(engine.Update, "data/k", `{"data":{"v":2},"options":{"cas":2}}`, fail.Invalid, mismatch)
	e.fails(engine.Update, "data/k", `{"data":{"v":2},"options":{"cas":null}}`, fail.Invalid, mismatch) // null is 0
	e.fails(engine.Update, "data/new", `{"data":{"v":2},"options":{"cas":1}}`, fail.Invalid, mismatch)
	e.ok(engine.Update, "data/k", `{"data":{"v":2},"options":{"cas":1}}`)
	e.ok(engine.Update, "data/k", `{"data":{"v":3},"options":{"cas":"2"}}`) // weakly typed, as in Vault
	e.ok(engine.Patch, "data/k", `{"data":{"p":1},"options":{"cas":3}}`)
	e.fails(engine.Patch, "data/k", `{"data":{"p":2},"options":{"cas":3}}`, fail.Invalid, mismatch)
	e.ok(engine.Update, "data/k", `{"data":{"v":5}}`) // not required yet

	// Required by one key's metadata.
	e.ok(engine.Update, "metadata/k", `{"cas_required":true}`)
	e.fails(engine.Update, "data/k", `{"data":{"v":6}}`, fail.Invalid, required)
	e.fails(engine.Update, "data/k", `{"data":{"v":6},"options":{}}`, fail.Invalid, required)
	e.fails(engine.Patch, "data/k", `{"data":{"v":6}}`, fail.Invalid, required)
	e.ok(engine.Update, "data/k", `{"data":{"v":6},"options":{"cas":5}}`)
	e.ok(engine.Update, "data/other", `{"data":{"v":1}}`) // other keys are not affected

	// Required by the mount.
	e.ok(engine.Update, "config", `{"cas_required":true}`)
	e.fails(engine.Update, "data/other", `{"data":{"v":2}}`, fail.Invalid, required)
	e.fails(engine.Update, "data/fresh", `{"data":{"v":1}}`, fail.Invalid, required)
	e.ok(engine.Update, "data/fresh", `{"data":{"v":1},"options":{"cas":0}}`)
	// A key cannot opt out of the mount's requirement.
	e.ok(engine.Update, "metadata/other", `{"cas_required":false}`)
	e.fails(engine.Update, "data/other", `{"data":{"v":2}}`, fail.Invalid, required)

	if v := e.ok(engine.Read, "data/k", "").Data["metadata"].(map[string]any)["version"]; v != 6 {
		t.Errorf("k is at version %v after refused writes, want 6", v)
	}
}

func TestSoftDelete(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"a":1}`)
	e.clock.Add(time.Second)
	if resp := e.ok(engine.Delete, "data/k", ""); resp != nil {
		t.Errorf("delete answered %+v", resp)
	}
	resp := e.ok(engine.Read, "data/k", "")
	if resp.Status != 404 {
		t.Fatalf("status %d, want 404", resp.Status)
	}
	sameJSON(t, "deleted", resp.Data, `{"data":null,"metadata":{"created_time":"`+ts(0)+
		`","custom_metadata":null,"deletion_time":"`+ts(time.Second)+`","destroyed":false,"version":1}}`)

	// Deleting again keeps the first deletion time.
	e.clock.Add(time.Second)
	e.ok(engine.Delete, "data/k", "")
	if got := e.ok(engine.Read, "data/k", "").Data["metadata"].(map[string]any)["deletion_time"]; got != ts(time.Second) {
		t.Errorf("deletion_time moved to %v", got)
	}
	// Deleting a missing key is not an error.
	if resp := e.ok(engine.Delete, "data/missing", ""); resp != nil {
		t.Errorf("delete of missing key: %+v", resp)
	}
	// A new write is readable again; the deleted version stays deleted.
	e.put("k", `{"a":2}`)
	sameJSON(t, "after rewrite", e.ok(engine.Read, "data/k", "").Data["data"], `{"a":2}`)
	if e.ok(engine.Read, "data/k", `{"version":1}`).Status != 404 {
		t.Error("version 1 came back")
	}
}

func TestMaxVersions(t *testing.T) {
	e := newEnv(t, "2")
	versions := func(key string) (oldest, current any, kept string) {
		t.Helper()
		d := e.ok(engine.Read, "metadata/"+key, "").Data
		var nums []int
		for n := 0; n <= 20; n++ {
			if _, ok := d["versions"].(map[string]any)[fmt.Sprint(n)]; ok {
				nums = append(nums, n)
			}
		}
		return d["oldest_version"], d["current_version"], fmt.Sprint(nums)
	}
	check := func(key string, wantOldest, wantCurrent int, wantKept ...int) {
		t.Helper()
		o, c, k := versions(key)
		if o != wantOldest || c != wantCurrent || k != fmt.Sprint(wantKept) {
			t.Fatalf("%s: oldest %v current %v kept %v; want %d %d %v", key, o, c, k, wantOldest, wantCurrent, wantKept)
		}
		for n := 1; n <= wantCurrent; n++ {
			raw, _ := e.st.Get(context.Background(), verKey(key, n))
			if (raw != nil) != slices.Contains(wantKept, n) {
				t.Fatalf("%s: version %d data stored: %v", key, n, raw != nil)
			}
		}
	}
	// Default 10: oldest_version stays 0 until the first trim, as in Vault.
	for i := 1; i <= 9; i++ {
		e.put("d", `{}`)
	}
	check("d", 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	e.put("d", `{}`)
	check("d", 1, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	e.put("d", `{}`)
	e.put("d", `{}`)
	check("d", 3, 12, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	if resp := e.ok(engine.Read, "data/d", `{"version":2}`); resp != nil {
		t.Errorf("trimmed version readable: %+v", resp)
	}

	// The mount's setting, then a key's, which wins.
	e.ok(engine.Update, "config", `{"max_versions":3}`)
	for i := 0; i < 5; i++ {
		e.put("m", `{}`)
	}
	check("m", 3, 5, 3, 4, 5)
	e.ok(engine.Update, "metadata/m", `{"max_versions":5}`)
	e.put("m", `{}`)
	e.put("m", `{}`)
	check("m", 3, 7, 3, 4, 5, 6, 7)
	// Lowering the limit trims at the next write, not before.
	e.ok(engine.Update, "metadata/m", `{"max_versions":1}`)
	check("m", 3, 7, 3, 4, 5, 6, 7)
	e.put("m", `{}`)
	check("m", 8, 8, 8)
	// d's next write applies the mount's 3.
	e.put("d", `{}`)
	check("d", 11, 13, 11, 12, 13)
	var stored []string
	for _, k := range e.st.Keys() {
		if len(k) > 4 && k[:4] == "ver/" {
			stored = append(stored, k)
		}
	}
	if fmt.Sprint(stored) != "[ver/d/11 ver/d/12 ver/d/13 ver/m/8]" {
		t.Errorf("version data stored: %v", stored)
	}
}

func TestDeleteVersionAfter(t *testing.T) {
	e := newEnv(t, "2")
	e.ok(engine.Update, "config", `{"delete_version_after":"1h"}`)
	got := e.put("k", `{"a":1}`)
	if got["deletion_time"] != ts(time.Hour) {
		t.Errorf("scheduled deletion_time %v, want %s", got["deletion_time"], ts(time.Hour))
	}
	e.clock.Add(time.Hour - time.Nanosecond)
	if resp := e.ok(engine.Read, "data/k", ""); resp.Status != 0 || resp.Data["data"] == nil {
		t.Fatalf("read before expiry: %+v", resp)
	}
	e.clock.Add(time.Nanosecond)
	resp := e.ok(engine.Read, "data/k", "")
	if resp.Status != 404 || resp.Data["data"] != nil {
		t.Fatalf("read after expiry: %+v", resp)
	}

	// The shorter of the mount's and the key's setting applies.
	for _, tc := range []struct {
		key, keySetting string
		want            time.Duration
	}{
		{"shorter", "30m", 30 * time.Minute},
		{"longer", "2h", time.Hour},
		{"unset", "0s", time.Hour},
	} {
		e.ok(engine.Update, "metadata/"+tc.key, `{"delete_version_after":"`+tc.keySetting+`"}`)
		now := e.clock.Now()
		got := e.put(tc.key, `{}`)
		if want := now.Add(tc.want).Format(time.RFC3339Nano); got["deletion_time"] != want {
			t.Errorf("%s: deletion_time %v, want %s", tc.key, got["deletion_time"], want)
		}
	}
	// Undelete cancels a scheduled deletion.
	e.ok(engine.Update, "undelete/k", `{"versions":[1]}`)
	if resp := e.ok(engine.Read, "data/k", ""); resp.Status != 0 || resp.Data["metadata"].(map[string]any)["deletion_time"] != "" {
		t.Errorf("after undelete: %+v", resp)
	}
}

func TestPatch(t *testing.T) {
	e := newEnv(t, "2")
	e.put("k", `{"a":1,"b":{"c":2,"d":3},"e":4,"l":[1,2]}`)
	e.clock.Add(time.Second)
	resp := e.ok(engine.Patch, "data/k", `{"data":{"b":{"c":null,"x":{"y":null,"z":5}},"e":null,"l":[3],"new":"v","gone":null}}`)
	sameJSON(t, "patch answer", resp.Data, `{"created_time":"`+ts(time.Second)+`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}`)
	sameJSON(t, "patched", e.ok(engine.Read, "data/k", "").Data["data"], `{"a":1,"b":{"d":3,"x":{"z":5}},"l":[3],"new":"v"}`)
	sameJSON(t, "previous kept", e.ok(engine.Read, "data/k", `{"version":1}`).Data["data"], `{"a":1,"b":{"c":2,"d":3},"e":4,"l":[1,2]}`)

	// Missing key: 404 with an empty body.
	if resp := e.ok(engine.Patch, "data/missing", `{"data":{"a":1}}`); resp == nil || resp.Status != 404 || resp.Data != nil {
		t.Errorf("patch of missing key: %+v", resp)
	}
	// Metadata but no version yet.
	e.ok(engine.Update, "metadata/bare", `{}`)
	if resp := e.ok(engine.Patch, "data/bare", `{"data":{"a":1}}`); resp == nil || resp.Status != 404 || resp.Data != nil {
		t.Errorf("patch of key without versions: %+v", resp)
	}
	// Deleted or destroyed latest: 404 with the version's metadata.
	e.ok(engine.Delete, "data/k", "")
	resp = e.ok(engine.Patch, "data/k", `{"data":{"a":2}}`)
	if resp.Status != 404 || resp.Data["version"] != 2 || resp.Data["deletion_time"] != ts(time.Second) {
		t.Errorf("patch of deleted: %+v", resp)
	}
	e.ok(engine.Update, "undelete/k", `{"versions":[2]}`)
	e.ok(engine.Update, "destroy/k", `{"versions":[2]}`)
	resp = e.ok(engine.Patch, "data/k", `{"data":{"a":2}}`)
	if resp.Status != 404 || resp.Data["destroyed"] != true {
		t.Errorf("patch of destroyed: %+v", resp)
	}
	if v := e.ok(engine.Read, "metadata/k", "").Data["current_version"]; v != 2 {
		t.Errorf("refused patches made version %v", v)
	}
}
