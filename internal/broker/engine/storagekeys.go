package engine

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/fail"
)

// MaxKeyLen bounds Storage keys in bytes (they come partly from request paths).
const MaxKeyLen = 4096

// ValidKey reports whether key can be stored: not empty, at most MaxKeyLen
// bytes, valid UTF-8. Put refuses any other key; Get, Delete and List find
// nothing under one.
func ValidKey(key string) bool {
	return key != "" && len(key) <= MaxKeyLen && utf8.ValidString(key)
}

// CheckKey is ValidKey as Put's error. A key comes partly from the request's
// path, so a key that cannot be stored is the request's fault: a 400 that
// names the rule, not a 500.
func CheckKey(key string) error {
	if ValidKey(key) {
		return nil
	}
	return fail.Invalidf("a path must give a storage key of 1 to %d bytes of valid UTF-8", MaxKeyLen)
}

// ChildNames is what Storage.List answers for prefix given the keys that
// start with it: the names directly under prefix, each once, sorted, deeper
// "folders" ending in "/".
func ChildNames(prefix string, keys []string) []string {
	seen := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
