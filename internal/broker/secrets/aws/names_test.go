package aws

import (
	"slices"
	"testing"

	"github.com/runcred/runcred/internal/access"
)

// TestRunMetaReserved: the metadata a session name takes its run from is
// metadata only runcred's own run logins may set, so no other token can
// make CloudTrail name someone else's run.
func TestRunMetaReserved(t *testing.T) {
	for _, k := range []string{metaRunID, metaRunPhase} {
		if !slices.Contains(access.RunMeta, k) {
			t.Errorf("%q is not in access.RunMeta", k)
		}
	}
}
