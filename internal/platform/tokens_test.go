package platform_test

import (
	"slices"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/resource"
)

// TestMetaKeysAreReserved: every caller metadata key the platform derives
// provenance or job scope from is one auth methods may not set.
func TestMetaKeysAreReserved(t *testing.T) {
	for _, k := range []string{resource.MetaRunID, resource.MetaWorkspaceID, resource.MetaTeamID, platform.MetaPhaseID} {
		if !slices.Contains(access.ReservedMeta, k) {
			t.Errorf("%q is not in access.ReservedMeta", k)
		}
	}
}
