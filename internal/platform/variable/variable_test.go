package variable

import (
	"strings"
	"testing"
)

func TestVariableKeys(t *testing.T) {
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
}
