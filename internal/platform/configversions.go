package platform

import (
	"context"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Configuration version statuses, as in HCP Terraform.
const (
	CVPending  = "pending"  // waiting for its archive
	CVUploaded = "uploaded" // archive stored; runs may use it
)

// ConfigurationVersion is an uploaded (or awaited) Terraform configuration.
type ConfigurationVersion struct {
	ID            string
	WorkspaceID   string
	Status        string
	Speculative   bool // runs of it are plan-only
	AutoQueueRuns bool // an upload queues a run
	ArchiveSize   int64
	CreatedAt     time.Time
	UploadedAt    time.Time // zero until uploaded
	UploadToken   string    // signed upload token; only set on create, for its caller
}

// ConfigurationVersionOptions are the settable fields on create.
type ConfigurationVersionOptions struct {
	Speculative   *bool
	AutoQueueRuns *bool // default true, as in HCP Terraform
}

func cvsPath(org, ws string) string {
	return resource.WorkspacePath(org, ws) + "/configuration-versions"
}

// archiveAAD binds a sealed archive to its configuration version.
func archiveAAD(cvID string) string { return "platform/configuration_versions/" + cvID }

// CreateConfigurationVersion creates a pending configuration version in
// workspace wsID; its UploadToken is what the upload URL carries.
func (s *Service) CreateConfigurationVersion(ctx context.Context, wsID string, o ConfigurationVersionOptions) (ConfigurationVersion, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return ConfigurationVersion{}, err
	}
	if err := s.base.Authorize(ctx, cvsPath(w.Organization, w.Name), access.Create); err != nil {
		return ConfigurationVersion{}, err
	}
	by, err := resource.WriterOf(ctx)
	if err != nil {
		return ConfigurationVersion{}, err
	}
	now := resource.FromNanos(resource.Nanos(s.base.Now()))
	cv := ConfigurationVersion{ID: resource.NewID("cv"), WorkspaceID: w.ID, Status: CVPending, AutoQueueRuns: true, CreatedAt: now}
	if o.Speculative != nil {
		cv.Speculative = *o.Speculative
	}
	if o.AutoQueueRuns != nil {
		cv.AutoQueueRuns = *o.AutoQueueRuns
	}
	if cv.UploadToken, err = s.base.Sign(resource.SignUpload, cv.ID); err != nil {
		return ConfigurationVersion{}, err
	}
	if err := s.base.Record(ctx, "platform.configuration_version.create", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "id": cv.ID, "speculative": cv.Speculative,
	}); err != nil {
		return ConfigurationVersion{}, err
	}
	_, err = s.base.DB.Exec(ctx, `INSERT INTO configuration_versions (id, workspace_id, status, speculative, auto_queue_runs,
		created_by_kind, created_by_id, archive, archive_size, created_at, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, 0)`,
		cv.ID, w.ID, cv.Status, resource.B2I(cv.Speculative), resource.B2I(cv.AutoQueueRuns), string(by.Kind), by.ID, resource.Nanos(now))
	if err != nil {
		return ConfigurationVersion{}, err
	}
	return cv, nil
}

const cvColumns = `id, workspace_id, status, speculative, auto_queue_runs, archive_size, created_at, uploaded_at`

func scanCV(row interface{ Scan(...any) error }) (ConfigurationVersion, error) {
	var cv ConfigurationVersion
	var spec, auto, created, uploaded int64
	if err := row.Scan(&cv.ID, &cv.WorkspaceID, &cv.Status, &spec, &auto, &cv.ArchiveSize, &created, &uploaded); err != nil {
		return ConfigurationVersion{}, err
	}
	cv.Speculative, cv.AutoQueueRuns, cv.CreatedAt = spec != 0, auto != 0, resource.FromNanos(created)
	if uploaded != 0 {
		cv.UploadedAt = resource.FromNanos(uploaded)
	}
	return cv, nil
}

// configurationVersion looks cv id up without authorizing, with its workspace.
func (s *Service) configurationVersion(ctx context.Context, id string) (ConfigurationVersion, workspace.Workspace, error) {
	if !resource.ValidID("cv", id) {
		return ConfigurationVersion{}, workspace.Workspace{}, fail.NotFoundf("configuration version %q not found", resource.Clip(id))
	}
	cv, err := scanCV(s.base.DB.QueryRow(ctx, `SELECT `+cvColumns+` FROM configuration_versions WHERE id = ?`, id))
	if err != nil {
		return ConfigurationVersion{}, workspace.Workspace{}, resource.NotFound(err, "configuration version %q not found", id)
	}
	w, err := s.ws.Workspace(ctx, cv.WorkspaceID)
	return cv, w, err
}

// ConfigurationVersion returns configuration version id.
func (s *Service) ConfigurationVersion(ctx context.Context, id string) (ConfigurationVersion, error) {
	cv, w, err := s.configurationVersion(ctx, id)
	if err != nil {
		return ConfigurationVersion{}, err
	}
	if err := s.base.Authorize(ctx, cvsPath(w.Organization, w.Name), access.Read); err != nil {
		return ConfigurationVersion{}, err
	}
	if cv.Status == CVPending {
		// HCP Terraform shows a pending version's upload URL to its readers.
		if cv.UploadToken, err = s.base.Sign(resource.SignUpload, cv.ID); err != nil {
			return ConfigurationVersion{}, err
		}
	}
	return cv, nil
}

// UploadConfiguration stores archive for the configuration version named by
// a signed upload token. The token is the credential (go-tfe sends none), so
// there is no caller to authorize. A version accepts one upload; a bad
// archive is refused and the version stays pending.
func (s *Service) UploadConfiguration(ctx context.Context, token string, archive []byte) error {
	g, err := s.base.OpenSigned(token)
	if err != nil || g.Purpose != resource.SignUpload {
		return fail.NotFoundf("the URL is invalid or has expired")
	}
	cv, w, err := s.configurationVersion(ctx, g.ID)
	if err != nil {
		return err
	}
	if cv.Status != CVPending {
		return fail.Conflictf("configuration version %s was already uploaded", cv.ID)
	}
	if err := ValidateArchive(archive); err != nil {
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
	res, err := s.base.DB.Exec(ctx, `UPDATE configuration_versions SET status = ?, archive = ?, archive_size = ?, uploaded_at = ?
		WHERE id = ? AND status = ?`, CVUploaded, sealed, len(archive), resource.Nanos(s.base.Now()), cv.ID, CVPending)
	if err := resource.Swapped(res, err, "configuration version %s was already uploaded", cv.ID); err != nil {
		return err
	}
	if cv.AutoQueueRuns {
		var creator resource.Writer
		if err := s.base.DB.QueryRow(ctx, `SELECT created_by_kind, created_by_id FROM configuration_versions WHERE id = ?`, cv.ID).
			Scan(&creator.Kind, &creator.ID); err != nil {
			return err
		}
		cv.Status = CVUploaded
		_, err = s.enqueueRun(ctx, w, cv, RunOptions{}, creator)
		return err
	}
	return nil
}

// ConfigurationArchive returns the archive of configuration version id for
// the agent that runs it.
func (s *Service) ConfigurationArchive(ctx context.Context, id string) ([]byte, error) {
	cv, w, err := s.configurationVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.base.Authorize(ctx, agentPath(w.Organization, w.Name), access.Read); err != nil {
		return nil, err
	}
	return s.archive(ctx, cv)
}

// archive opens cv's archive; the caller has authorized.
func (s *Service) archive(ctx context.Context, cv ConfigurationVersion) ([]byte, error) {
	if cv.Status != CVUploaded {
		return nil, fail.Conflictf("configuration version %s has not been uploaded", cv.ID)
	}
	var sealed []byte
	if err := s.base.DB.QueryRow(ctx, `SELECT archive FROM configuration_versions WHERE id = ?`, cv.ID).Scan(&sealed); err != nil {
		return nil, err
	}
	pt, err := s.base.Seal.Decrypt(sealed, archiveAAD(cv.ID))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not open configuration archive "+cv.ID)
	}
	return pt, nil
}

// latestConfigurationVersion is workspace w's most recently uploaded version.
func (s *Service) latestConfigurationVersion(ctx context.Context, w workspace.Workspace) (ConfigurationVersion, error) {
	cv, err := scanCV(s.base.DB.QueryRow(ctx, `SELECT `+cvColumns+` FROM configuration_versions
		WHERE workspace_id = ? AND status = ? ORDER BY uploaded_at DESC, id LIMIT 1`, w.ID, CVUploaded))
	if store.IsNotFound(err) {
		return ConfigurationVersion{}, fail.Invalidf("workspace %q has no uploaded configuration version", w.Name)
	}
	return cv, err
}
