package workspace

import (
	"path"
	"strings"
	"testing"
)

func TestWorkingDirectory(t *testing.T) {
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
