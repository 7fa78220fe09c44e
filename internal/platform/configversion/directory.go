package configversion

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Directory hands the run lifecycle configuration versions and their
// archives; it authorizes nothing: its callers have.
type Directory struct {
	base resource.Deps
	db   db
	ws   workspace.Directory
}

// NewDirectory returns a Directory.
func NewDirectory(base resource.Deps, ws workspace.Directory) Directory {
	return Directory{base: base, db: db{base.DB}, ws: ws}
}

// Version looks configuration version id up, with its workspace.
func (d Directory) Version(ctx context.Context, id string) (Version, workspace.Workspace, error) {
	cv, err := d.db.version(ctx, id)
	if err != nil {
		return Version{}, workspace.Workspace{}, err
	}
	w, err := d.ws.Workspace(ctx, cv.WorkspaceID)
	return cv, w, err
}

// Archive opens cv's archive.
func (d Directory) Archive(ctx context.Context, cv Version) ([]byte, error) {
	if cv.Status != Uploaded {
		return nil, fail.Conflictf("configuration version %s has not been uploaded", cv.ID)
	}
	sealed, err := d.db.sealedArchive(ctx, cv.ID)
	if err != nil {
		return nil, err
	}
	pt, err := d.base.Seal.Decrypt(sealed, archiveAAD(cv.ID))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not open configuration archive "+cv.ID)
	}
	return pt, nil
}

// Latest is workspace w's most recently uploaded version.
func (d Directory) Latest(ctx context.Context, w workspace.Workspace) (Version, error) {
	cv, err := d.db.latest(ctx, w.ID)
	if store.IsNotFound(err) {
		return Version{}, fail.Invalidf("workspace %q has no uploaded configuration version", w.Name)
	}
	return cv, err
}
