package state

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
)

// Upload stores state as workspace wsID's newest version for a caller
// outside a run: OpenTofu's cloud backend on a workspace that runs locally
// (runcred keeps only its state), or someone repairing state. As in HCP
// Terraform the caller must hold the workspace's lock, so no run and no
// other writer is between; md5 (hex) must be the state's. Serial and
// lineage are held to the current state's as a run's are.
// serial and lineage, when given, must be the state's own.
func (s *Service) Upload(ctx context.Context, wsID string, state []byte, md5hex string, serial *int64, lineage *string) (Version, error) {
	w, err := s.ws.Workspace(ctx, wsID) // the path to authorize on holds its names
	if err != nil {
		return Version{}, err
	}
	if err := s.base.Authorize(ctx, versionsPath(w.Organization, w.Name), access.Create); err != nil {
		return Version{}, err
	}
	by, err := resource.WriterOf(ctx)
	if err != nil {
		return Version{}, err
	}
	if w.LockedBy == "" || w.LockedBy != string(by.Kind)+":"+by.ID {
		return Version{}, fail.Conflictf("workspace %q must be locked by the caller to upload state", w.Name)
	}
	sum := md5.Sum(state)
	if hex.EncodeToString(sum[:]) != md5hex {
		return Version{}, fail.Invalidf("md5 %q is not the md5 of the state", fail.Clip(md5hex))
	}
	var head struct {
		Serial  int64  `json:"serial"`
		Lineage string `json:"lineage"`
	}
	_ = json.Unmarshal(state, &head) // Store refuses what is not a state
	if serial != nil && *serial != head.Serial {
		return Version{}, fail.Invalidf("serial %d is not the state's (%d)", *serial, head.Serial)
	}
	if lineage != nil && *lineage != head.Lineage {
		return Version{}, fail.Invalidf("lineage %q is not the state's", fail.Clip(*lineage))
	}
	return NewDirectory(s.base).Store(ctx, w, "", state)
}
