package state

import (
	"encoding/json"
	"testing"
)

func TestOutputID(t *testing.T) {
	for _, c := range []struct{ sv, name string }{{"sv-abc", "region"}, {"sv-x", "a/b"}, {"sv-y", ""}} {
		sv, name, ok := parseOutputID(OutputID(c.sv, c.name))
		if !ok || sv != c.sv || name != c.name {
			t.Errorf("%v: parsed back as %q %q %v", c, sv, name, ok)
		}
	}
	for _, bad := range []string{"", "wsout-", "wsout-!!", "sv-abc/region", "wsout-c3YtYWJj"} {
		if _, _, ok := parseOutputID(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestKindOf(t *testing.T) {
	for v, want := range map[string]string{`"a"`: "string", `1.5`: "number", `true`: "bool", `[1]`: "array", `{"a":1}`: "object", `null`: "null"} {
		if got := kindOf(json.RawMessage(v)); got != want {
			t.Errorf("kindOf(%s) = %s, want %s", v, got, want)
		}
	}
}

// FuzzOutputID: an output id from a request either parses into the state
// version and name it was made of, or is refused.
func FuzzOutputID(f *testing.F) {
	f.Add(OutputID("sv-abc", "region"))
	f.Add("wsout-")
	f.Add("wsout-////")
	f.Fuzz(func(t *testing.T, id string) {
		sv, name, ok := parseOutputID(id)
		if !ok {
			return
		}
		// The id remade from what was parsed (the decoder tolerates
		// non-zero trailing bits, so it may differ) names the same output.
		if sv2, name2, again := parseOutputID(OutputID(sv, name)); !again || sv2 != sv || name2 != name {
			t.Fatalf("%q parsed as %q %q, which does not make the same id", id, sv, name)
		}
	})
}
