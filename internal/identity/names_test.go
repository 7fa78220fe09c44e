package identity_test

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

// TestNames: each name's rule, its length bound (inclusive) and the message
// that names the rule the name broke, echoing at most 64 characters of it.
func TestNames(t *testing.T) {
	max := strings.Repeat("a", identity.MaxNameLen)
	for _, c := range []struct {
		name  string
		check func(string) error
		v     string
		msg   string // "" when valid
	}{
		{"org", identity.ValidOrganizationName, "acme_co-1", ""},
		{"org at the bound", identity.ValidOrganizationName, max, ""},
		{"org over the bound", identity.ValidOrganizationName, max + "a", "organization name is longer than 90 characters"},
		{"org empty", identity.ValidOrganizationName, "", "organization name is required"},
		{"org space", identity.ValidOrganizationName, "a b", `organization name "a b" may hold only letters, digits, '-' and '_'`},
		{"project", identity.ValidProjectName, "Default Project", ""},
		{"project slash", identity.ValidProjectName, "a/b", `project name "a/b" may hold only letters, digits, '-', '_' and inner spaces`},
		{"workspace", identity.ValidWorkspaceName, "prod", ""},
		{"workspace colon", identity.ValidWorkspaceName, "a:b", `workspace name "a:b" may hold only`},
		{"long bad name is clipped", identity.ValidWorkspaceName, strings.Repeat("x", 80) + ":", `workspace name "` + strings.Repeat("x", 64) + `…" may hold only`},
		{"64 characters are echoed whole", identity.ValidWorkspaceName, strings.Repeat("x", 63) + ":", `workspace name "` + strings.Repeat("x", 63) + `:" may hold only`},
		{"invalid UTF-8 is not echoed", identity.ValidWorkspaceName, "a\xffb", `workspace name "a?b" may hold only`},
	} {
		err := c.check(c.v)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !fail.Is(err, fail.Invalid) || !strings.Contains(fail.Message(err), c.msg) {
			t.Errorf("%s: %v, want invalid with %q", c.name, err, c.msg)
		}
	}
}
