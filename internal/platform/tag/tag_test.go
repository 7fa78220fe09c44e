package tag

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

// TestValid holds every rule at its edge.
func TestValid(t *testing.T) {
	many := make([]Binding, MaxBindings+1)
	for i := range many {
		many[i] = Binding{Key: "k" + strings.Repeat("x", i)}
	}
	for _, tc := range []struct {
		name string
		bs   []Binding
		ok   bool
	}{
		{"none", nil, true},
		{"plain", []Binding{{Key: "env", Value: "prod"}, {Key: "team:net.a_b-c", Value: "a b / c"}}, true},
		{"empty value", []Binding{{Key: "flag"}}, true},
		{"longest key", []Binding{{Key: strings.Repeat("k", MaxKeyLen)}}, true},
		{"key too long", []Binding{{Key: strings.Repeat("k", MaxKeyLen+1)}}, false},
		{"longest value", []Binding{{Key: "k", Value: strings.Repeat("v", MaxValueLen)}}, true},
		{"value too long", []Binding{{Key: "k", Value: strings.Repeat("v", MaxValueLen+1)}}, false},
		{"empty key", []Binding{{Value: "v"}}, false},
		{"key with space", []Binding{{Key: "a b"}}, false},
		{"key with slash", []Binding{{Key: "a/b"}}, false},
		{"control in value", []Binding{{Key: "k", Value: "a\x00b"}}, false},
		{"DEL in value", []Binding{{Key: "k", Value: "a\x7fb"}}, false},
		{"invalid UTF-8", []Binding{{Key: "k", Value: "\xff"}}, false},
		{"key twice", []Binding{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}, false},
		{"most bindings", many[:MaxBindings], true},
		{"too many", many, false},
	} {
		err := Valid(tc.bs)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && fail.KindOf(err) != fail.Invalid {
			t.Errorf("%s: kind %v, want invalid", tc.name, fail.KindOf(err))
		}
	}
}

func TestUnion(t *testing.T) {
	got := union([]Binding{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, []Binding{{Key: "b", Value: "3"}, {Key: "c", Value: "4"}})
	want := []Binding{{Key: "a", Value: "1"}, {Key: "b", Value: "3"}, {Key: "c", Value: "4"}}
	if len(got) != len(want) {
		t.Fatalf("union = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("union = %v, want %v", got, want)
		}
	}
}
