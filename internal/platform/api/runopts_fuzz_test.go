package api

import (
	"encoding/json"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/run"
)

// FuzzRunOptions feeds untrusted run documents to runOptions: it never
// panics, refuses with a 400 or a 422 only, and accepts only valid JSON.
func FuzzRunOptions(f *testing.F) {
	for _, s := range []string{
		`{"data":{"attributes":{"refresh":false,"target-addrs":["a.b"],"variables":[{"key":"k","value":"\"v\""}]}}}`,
		`{"data":{"attributes":{"variables":[null]}}}`, `{"data":{"attributes":{"save-plan":true}}}`,
		`{"data":{"attributes":{"refresh-only":null,"replace-addrs":null}}}`, `{"data":null}`, `[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var o run.Options
		err := runOptions([]byte(body), &o)
		if err == nil {
			if !json.Valid([]byte(body)) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		if _, ok := err.(errMalformed); !ok && !fail.Is(err, fail.Invalid) {
			t.Fatalf("runOptions(%q) = %v, neither malformed nor invalid", body, err)
		}
	})
}
