package configversion

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// Archived is the status of a version whose archive was pruned to make room
// for newer ones (HCP Terraform's name for a version whose files are gone).
const Archived = "archived"

// Quota bounds the archives one workspace stores.
type Quota struct {
	Versions int   // uploaded versions
	Bytes    int64 // bytes of their archives, compressed
}

// DefaultQuota lets a workspace keep ten maximum-size uploads, or many
// hundreds of ordinary ones.
var DefaultQuota = Quota{Versions: 500, Bytes: 1 << 30}

// makeRoom makes room in w for an archive of size bytes, as a data
// retention policy would: it prunes the workspace's oldest uploaded
// versions first, never its latest nor one an unfinished run still needs,
// and refuses the upload when that is not enough.
func (s *Service) makeRoom(ctx context.Context, w workspace.Workspace, size int64) error {
	stored, err := s.db.stored(ctx, w.ID)
	if err != nil {
		return err
	}
	count, total := len(stored)+1, size
	for _, v := range stored {
		total += v.size
	}
	over := func() bool { return count > s.quota.Versions || total > s.quota.Bytes }
	// Choose first, prune after: a refused upload loses nothing.
	var prune []storedVersion
	for i, v := range stored {
		if !over() || i == len(stored)-1 { // the latest is the one a new run would take
			break
		}
		if !v.needed {
			prune = append(prune, v)
			count, total = count-1, total-v.size
		}
	}
	if over() {
		return fail.Conflictf("workspace %q would store %d configuration versions of %d bytes, past its quota of %d versions and %d bytes; "+
			"the older ones are still needed by unfinished runs: let them finish, or discard them, and upload again",
			w.Name, count, total, s.quota.Versions, s.quota.Bytes)
	}
	for _, v := range prune {
		ok, err := s.db.prune(ctx, v.id)
		if err != nil {
			return err
		}
		if !ok {
			return fail.Conflictf("configuration version %s of workspace %q was taken by a run while making room; upload again", v.id, w.Name)
		}
	}
	return nil
}
