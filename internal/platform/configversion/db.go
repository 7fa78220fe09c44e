package configversion

import (
	"context"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// db is all of the domain's SQL.
type db struct{ *store.DB }

const columns = `id, workspace_id, status, speculative, auto_queue_runs, archive_size, created_at, uploaded_at`

func scan(row interface{ Scan(...any) error }) (Version, error) {
	var cv Version
	var spec, auto, created, uploaded int64
	if err := row.Scan(&cv.ID, &cv.WorkspaceID, &cv.Status, &spec, &auto, &cv.ArchiveSize, &created, &uploaded); err != nil {
		return Version{}, err
	}
	cv.Speculative, cv.AutoQueueRuns, cv.CreatedAt = spec != 0, auto != 0, store.Time(created)
	if uploaded != 0 {
		cv.UploadedAt = store.Time(uploaded)
	}
	return cv, nil
}

func (d db) insert(ctx context.Context, cv Version, by resource.Writer) error {
	_, err := d.Exec(ctx, `INSERT INTO configuration_versions (id, workspace_id, status, speculative, auto_queue_runs,
		created_by_kind, created_by_id, archive, archive_size, created_at, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, 0)`,
		cv.ID, cv.WorkspaceID, cv.Status, resource.B2I(cv.Speculative), resource.B2I(cv.AutoQueueRuns), string(by.Kind), by.ID, store.Nanos(cv.CreatedAt))
	return err
}

func (d db) version(ctx context.Context, id string) (Version, error) {
	if !resource.ValidID("cv", id) {
		return Version{}, fail.NotFoundf("configuration version %q not found", fail.Clip(id))
	}
	cv, err := scan(d.QueryRow(ctx, `SELECT `+columns+` FROM configuration_versions WHERE id = ?`, id))
	return cv, resource.NotFound(err, "configuration version %q not found", id)
}

// upload stores a pending version's sealed archive.
func (d db) upload(ctx context.Context, id string, sealed []byte, size int, now int64) error {
	res, err := d.Exec(ctx, `UPDATE configuration_versions SET status = ?, archive = ?, archive_size = ?, uploaded_at = ?
		WHERE id = ? AND status = ?`, Uploaded, sealed, size, now, id, Pending)
	return resource.Swapped(res, err, "configuration version %s was already uploaded", id)
}

func (d db) creator(ctx context.Context, id string) (resource.Writer, error) {
	var creator resource.Writer
	err := d.QueryRow(ctx, `SELECT created_by_kind, created_by_id FROM configuration_versions WHERE id = ?`, id).
		Scan(&creator.Kind, &creator.ID)
	return creator, err
}

func (d db) sealedArchive(ctx context.Context, id string) ([]byte, error) {
	var sealed []byte
	err := d.QueryRow(ctx, `SELECT archive FROM configuration_versions WHERE id = ?`, id).Scan(&sealed)
	return sealed, err
}

func (d db) latest(ctx context.Context, wsID string) (Version, error) {
	return scan(d.QueryRow(ctx, `SELECT `+columns+` FROM configuration_versions
		WHERE workspace_id = ? AND status = ? ORDER BY uploaded_at DESC, id LIMIT 1`, wsID, Uploaded))
}
