package state

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
)

// Service serves state versions to callers it authorizes. It is safe for
// concurrent use.
type Service struct {
	base       resource.Deps
	db         db
	ws         workspace.Directory
	workspaces *workspace.Service // for the lookup by name, which it authorizes
}

// New returns a Service.
func New(base resource.Deps, ws workspace.Directory, workspaces *workspace.Service) *Service {
	return &Service{base: base, db: db{base.DB}, ws: ws, workspaces: workspaces}
}

// withToken signs sv's download URL for a caller allowed to read it.
func (s *Service) withToken(sv Version) (Version, error) {
	var err error
	sv.DownloadToken, err = s.base.Sign(resource.SignState, sv.ID)
	return sv, err
}

// Version returns state version id.
func (s *Service) Version(ctx context.Context, id string) (Version, error) {
	sv, err := s.db.version(ctx, id) // the path to authorize on holds its workspace's names
	if err != nil {
		return Version{}, err
	}
	w, err := s.ws.Workspace(ctx, sv.WorkspaceID)
	if err != nil {
		return Version{}, err
	}
	if err := s.base.Authorize(ctx, versionsPath(w.Organization, w.Name), access.Read); err != nil {
		return Version{}, err
	}
	return s.withToken(sv)
}

// CurrentVersion returns workspace wsID's newest state version.
func (s *Service) CurrentVersion(ctx context.Context, wsID string) (Version, error) {
	w, err := s.ws.Workspace(ctx, wsID) // the path to authorize on holds its names
	if err != nil {
		return Version{}, err
	}
	if err := s.base.Authorize(ctx, versionsPath(w.Organization, w.Name), access.Read); err != nil {
		return Version{}, err
	}
	sv, err := s.db.current(ctx, w.ID)
	if err != nil {
		return Version{}, resource.NotFound(err, "workspace %q has no state", w.Name)
	}
	return s.withToken(sv)
}

// Versions lists the state versions of workspace ws in org, newest
// first, with the total count.
func (s *Service) Versions(ctx context.Context, org, ws string, p resource.Page) ([]Version, int, error) {
	w, err := s.workspaces.Workspace(ctx, org, ws) // authorizes reading the workspace
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, versionsPath(w.Organization, w.Name), access.List); err != nil {
		return nil, 0, err
	}
	out, total, err := s.db.list(ctx, w.ID, p.Normalize())
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		if out[i], err = s.withToken(out[i]); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}
