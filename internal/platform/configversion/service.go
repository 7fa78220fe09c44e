package configversion

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Queue queues a run of an uploaded version that asked for one (the run
// lifecycle), as the version's creator.
type Queue interface {
	QueueRun(ctx context.Context, w workspace.Workspace, cv Version, by resource.Writer) error
}

// Service manages configuration versions. It is safe for concurrent use.
type Service struct {
	base  resource.Deps
	db    db
	dir   Directory
	ws    workspace.Directory
	queue Queue
	quota Quota
}

// New returns a Service.
func New(base resource.Deps, ws workspace.Directory, queue Queue) *Service {
	return &Service{base: base, db: db{base.DB}, dir: NewDirectory(base, ws), ws: ws, queue: queue, quota: DefaultQuota}
}

// SetQuota changes what one workspace may store (DefaultQuota).
func (s *Service) SetQuota(q Quota) { s.quota = q }

func versionsPath(org, ws string) string {
	return resource.WorkspacePath(org, ws) + "/configuration-versions"
}

// Create creates a pending configuration version in
// workspace wsID; its UploadToken is what the upload URL carries.
func (s *Service) Create(ctx context.Context, wsID string, o Options) (Version, error) {
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
	cv := Version{ID: resource.NewID("cv"), WorkspaceID: w.ID, Status: Pending, AutoQueueRuns: true, CreatedAt: store.Stored(s.base.Now())}
	if o.Speculative != nil {
		cv.Speculative = *o.Speculative
	}
	if o.AutoQueueRuns != nil {
		cv.AutoQueueRuns = *o.AutoQueueRuns
	}
	if cv.UploadToken, err = s.base.Sign(resource.SignUpload, cv.ID); err != nil {
		return Version{}, err
	}
	if err := s.base.Record(ctx, "platform.configuration_version.create", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "id": cv.ID, "speculative": cv.Speculative,
	}); err != nil {
		return Version{}, err
	}
	if err := s.db.insert(ctx, cv, by); err != nil {
		return Version{}, err
	}
	return cv, nil
}

// Version returns configuration version id.
func (s *Service) Version(ctx context.Context, id string) (Version, error) {
	cv, w, err := s.dir.Version(ctx, id) // the path to authorize on holds its workspace's names
	if err != nil {
		return Version{}, err
	}
	if err := s.base.Authorize(ctx, versionsPath(w.Organization, w.Name), access.Read); err != nil {
		return Version{}, err
	}
	if cv.Status == Pending {
		// HCP Terraform shows a pending version's upload URL to its readers.
		if cv.UploadToken, err = s.base.Sign(resource.SignUpload, cv.ID); err != nil {
			return Version{}, err
		}
	}
	return cv, nil
}

// Upload stores archive for the configuration version named by
// a signed upload token. The token is the credential (go-tfe sends none), so
// there is no caller to authorize. A version accepts one upload; a bad
// archive is refused and the version stays pending.
func (s *Service) Upload(ctx context.Context, token string, archive []byte) error {
	g, err := s.base.OpenSigned(token)
	if err != nil || g.Purpose != resource.SignUpload {
		return fail.NotFoundf("the URL is invalid or has expired")
	}
	cv, w, err := s.dir.Version(ctx, g.ID)
	if err != nil {
		return err
	}
	if cv.Status != Pending {
		return fail.Conflictf("configuration version %s was already uploaded", cv.ID)
	}
	if err := ValidateArchive(archive); err != nil {
		return err
	}
	if err := s.makeRoom(ctx, w, int64(len(archive))); err != nil {
		return err
	}
	sealed, err := s.base.Seal.Encrypt(archive, archiveAAD(cv.ID))
	if err != nil {
		return fail.Wrap(fail.Internal, err, "could not seal the configuration archive")
	}
	// No caller: the record names the signed URL's object as the actor.
	if _, err := s.base.Audit.Append(ctx, "platform.configuration_version.upload", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "id": cv.ID,
		"size": len(archive), "by": map[string]string{"kind": "signed-url", "id": cv.ID},
	}); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	if err := s.db.upload(ctx, cv.ID, sealed, len(archive), store.Nanos(s.base.Now())); err != nil {
		return err
	}
	if cv.AutoQueueRuns {
		creator, err := s.db.creator(ctx, cv.ID)
		if err != nil {
			return err
		}
		cv.Status = Uploaded
		return s.queue.QueueRun(ctx, w, cv, creator)
	}
	return nil
}

// Archive returns the archive of configuration version id for
// the agent that runs it.
func (s *Service) Archive(ctx context.Context, id string) ([]byte, error) {
	cv, w, err := s.dir.Version(ctx, id) // the path to authorize on holds its workspace's names
	if err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, resource.AgentPath(w.Organization, w.Name), access.Read); err != nil {
		return nil, err
	}
	return s.dir.Archive(ctx, cv)
}
