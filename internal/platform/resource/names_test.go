package resource

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		check func(string) error
		v     string
		ok    bool
	}{
		{ValidOrganizationName, "acme", true},
		{ValidOrganizationName, "a_b-C9", true},
		{ValidOrganizationName, strings.Repeat("a", 90), true},
		{ValidOrganizationName, strings.Repeat("a", 91), false},
		{ValidOrganizationName, "", false},
		{ValidOrganizationName, "a.b", false},
		{ValidOrganizationName, "a:b", false},
		{ValidOrganizationName, "a/b", false},
		{ValidOrganizationName, "a b", false},
		{ValidOrganizationName, "a*", false},
		{ValidWorkspaceName, "net", true},
		{ValidWorkspaceName, "a:project:b", false},
		{ValidWorkspaceName, "ü", false},
		{ValidProjectName, "Default Project", true},
		{ValidProjectName, " lead", false},
		{ValidProjectName, "trail ", false},
		{ValidProjectName, "a:b", false},
		{ValidProjectName, "a/b", false},
	} {
		if err := tc.check(tc.v); (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.v, err, tc.ok)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("ws")
		if !ValidID("ws", id) || len(id) != len("ws-")+16 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

// FuzzNames: an accepted name can never break a sub claim or an
// authorization path.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"acme", "a:b", "Default Project", "a/b", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, check := range []func(string) error{ValidOrganizationName, ValidWorkspaceName, ValidProjectName} {
			if check(s) == nil && (strings.ContainsAny(s, ":/*+\x00") || len(s) > MaxNameLen || s == "") {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
