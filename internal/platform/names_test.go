package platform

import (
	"path"
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

func TestVariableKeysAndPaths(t *testing.T) {
	for _, tc := range []struct {
		category, key string
		ok            bool
	}{
		{CategoryEnv, "AWS_REGION", true},
		{CategoryEnv, "_x", true},
		{CategoryEnv, "A-B", false},
		{CategoryEnv, "A=B", false},
		{CategoryEnv, "1A", false},
		{CategoryTerraform, "role-id", true},
		{CategoryTerraform, "a/b", false},
		{CategoryTerraform, "", false},
		{CategoryTerraform, strings.Repeat("k", MaxKeyLen+1), false},
	} {
		if err := validVariableKey(tc.category, tc.key); (err == nil) != tc.ok {
			t.Errorf("%s key %q: err %v, want ok=%v", tc.category, tc.key, err, tc.ok)
		}
	}
	for d, ok := range map[string]bool{
		"": true, "infra/net": true, "./a": true, "a/../b": true,
		"/etc": false, "..": false, "../x": false, "a/../../x": false, `a\..\x`: false, "a\x00": false,
	} {
		if err := validWorkingDirectory(d); (err == nil) != ok {
			t.Errorf("working directory %q: err %v, want ok=%v", d, err, ok)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID("ws")
		if !validID("ws", id) || len(id) != len("ws-")+16 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

// FuzzWorkingDirectory: an accepted working directory never leads out of
// the configuration directory.
func FuzzWorkingDirectory(f *testing.F) {
	for _, s := range []string{"a/b", "../a", "a/../..", "/x", "./.", "a//..//.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if validWorkingDirectory(d) != nil {
			return
		}
		joined := path.Join("/run/config", d)
		if joined != "/run/config" && !strings.HasPrefix(joined, "/run/config/") {
			t.Fatalf("%q leads to %q", d, joined)
		}
	})
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
