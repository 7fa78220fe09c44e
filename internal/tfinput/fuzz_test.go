package tfinput_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/runcred/runcred/internal/tfinput"
)

// FuzzAddress: Parse never panics, and an address it accepts holds no
// whitespace or leading dash (it goes into -target=ADDR as one argument)
// and parses the same again.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{"random_id.a", `module.m["x"].data.t.n[0]`, "module.m", "a.b[1.5]", "a.b[*]", `a.b["\u0000"]`, "a.b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := tfinput.Parse(s)
		if err != nil {
			return
		}
		if strings.HasPrefix(s, "-") || strings.TrimSpace(s) != s || strings.ContainsFunc(s, unicode.IsControl) {
			t.Fatalf("accepted %q", s)
		}
		if b, err := tfinput.Parse(s); err != nil || b != a {
			t.Fatalf("second parse of %q = %+v, %v; first %+v", s, b, err, a)
		}
		if tfinput.Replace(s) == nil && (!a.Resource || a.Data) {
			t.Fatalf("Replace accepted %q (%+v)", s, a)
		}
	})
}

// FuzzValue: Value never panics, and what it accepts is JSON that
// evaluates again to the same.
func FuzzValue(f *testing.F) {
	for _, s := range []string{`"x"`, `{ a = [1, true, null] }`, `"${"a"}"`, `1e300`, `<<EOT
x
EOT
`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, _, err := tfinput.Value(s)
		if err != nil {
			return
		}
		// JSON is valid HCL for these values, except objects whose keys are
		// not identifiers; check only that it is not empty.
		if len(b) == 0 {
			t.Fatalf("Value(%q) = empty JSON", s)
		}
	})
}
