package platform

import (
	"path"
	"strings"
	"testing"
)

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
