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

// storedVersion is an uploaded version's share of its workspace's quota.
type storedVersion struct {
	id     string
	size   int64
	needed bool // by an unfinished run
}

// stored lists workspace wsID's uploaded versions, oldest first.
func (d db) stored(ctx context.Context, wsID string) ([]storedVersion, error) {
	rows, err := d.Query(ctx, `SELECT id, archive_size, EXISTS (SELECT 1 FROM runs r WHERE r.configuration_version_id = c.id
			AND r.status IN (`+unfinished+`)) FROM configuration_versions c WHERE workspace_id = ? AND status = ?
		ORDER BY uploaded_at, id`, wsID, Uploaded)
	if err != nil {
		return nil, err
	}
	return resource.ScanAll(rows, func(r interface{ Scan(...any) error }) (storedVersion, error) {
		var v storedVersion
		return v, r.Scan(&v.id, &v.size, &v.needed)
	})
}

// unfinished are the run statuses that still need their configuration
// (run.Statuses less the terminal ones; this package is below run's).
const unfinished = `'pending', 'plan_queued', 'planning', 'planned', 'confirmed', 'apply_queued', 'applying'`

// prune drops version id's archive unless an unfinished run uses it, in one
// statement, so a run that starts meanwhile either keeps it or never saw it.
func (d db) prune(ctx context.Context, id string) (bool, error) {
	res, err := d.Exec(ctx, `UPDATE configuration_versions SET status = ?, archive = NULL
		WHERE id = ? AND status = ? AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.configuration_version_id = configuration_versions.id
			AND r.status IN (`+unfinished+`))`, Archived, id, Uploaded)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
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
