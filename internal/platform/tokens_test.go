package platform_test

import (
	"slices"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/run"
)

// TestMetaKeysAreReserved: every caller metadata key the platform derives
// provenance or job scope from is one auth methods may not set.
func TestMetaKeysAreReserved(t *testing.T) {
	for _, k := range []string{resource.MetaRunID, resource.MetaWorkspaceID, resource.MetaTeamID, run.MetaPhaseID} {
		if !slices.Contains(access.ReservedMeta, k) {
			t.Errorf("%q is not in access.ReservedMeta", k)
		}
	}
}
