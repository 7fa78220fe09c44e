package rotation

import (
	"context"
	"encoding/json"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// db is the package's SQL: the journal and the schedules.
type db struct{ *store.DB }

const rotationColumns = `id, mount_path, new_path, state, error, report, requested_by, created_at, updated_at`

func scanRotation(row interface{ Scan(...any) error }) (Rotation, error) {
	var r Rotation
	var report string
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Mount, &r.NewPath, &r.State, &r.Error, &report, &r.RequestedBy, &created, &updated); err != nil {
		return Rotation{}, err
	}
	if err := json.Unmarshal([]byte(report), &r.Report); err != nil {
		return Rotation{}, err
	}
	r.CreatedAt, r.UpdatedAt = store.Time(created), store.Time(updated)
	return r, nil
}

// insert journals a planned rotation, claimed until claim. A mount with an
// unfinished rotation gets a conflict.
func (d db) insert(ctx context.Context, r Rotation, claim time.Time) error {
	report, _ := json.Marshal(r.Report)
	_, err := d.Exec(ctx, `INSERT INTO mount_rotations (`+rotationColumns+`, claimed_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Mount, r.NewPath, string(r.State), r.Error, string(report), r.RequestedBy, store.Nanos(r.CreatedAt), store.Nanos(r.UpdatedAt), store.Nanos(claim))
	if fail.Is(err, fail.Conflict) {
		return fail.Conflictf("mount %s is already being rotated", r.Mount)
	}
	return err
}

func (d db) get(ctx context.Context, id string) (Rotation, error) {
	r, err := scanRotation(d.QueryRow(ctx, `SELECT `+rotationColumns+` FROM mount_rotations WHERE id = ?`, id))
	if store.IsNotFound(err) {
		return Rotation{}, fail.NotFoundf("rotation %q not found", fail.Clip(id))
	}
	return r, err
}

// save writes r's state, error and report if the row is still in state
// from: a compare-and-swap, so two nodes never both move one rotation on.
func (d db) save(ctx context.Context, r Rotation, from State) error {
	report, _ := json.Marshal(r.Report)
	res, err := d.Exec(ctx, `UPDATE mount_rotations SET state = ?, error = ?, report = ?, updated_at = ? WHERE id = ? AND state = ?`,
		string(r.State), r.Error, string(report), store.Nanos(r.UpdatedAt), r.ID, string(from))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fail.Conflictf("rotation %s moved on elsewhere", r.ID)
	}
	return nil
}

// claim takes rotation id until until. held is the claim this node holds
// (renewal: it must still be there); otherwise the claim must have lapsed
// by now, unless force (a restarted single node takes its own). It
// reports whether the claim is this node's.
func (d db) claim(ctx context.Context, id string, now, until time.Time, held *time.Time, force bool) (bool, error) {
	q := `UPDATE mount_rotations SET claimed_until = ? WHERE id = ? AND state NOT IN ('done', 'rolled_back')`
	args := []any{store.Nanos(until), id}
	switch {
	case held != nil:
		q += ` AND claimed_until = ?`
		args = append(args, store.Nanos(*held))
	case !force:
		q += ` AND claimed_until <= ?`
		args = append(args, store.Nanos(now))
	}
	res, err := d.Exec(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// release lets another node take rotation id at once.
func (d db) release(ctx context.Context, id string) error {
	_, err := d.Exec(ctx, `UPDATE mount_rotations SET claimed_until = 0 WHERE id = ?`, id)
	return err
}

// unfinished returns the ids of rotations not yet over whose claim has
// lapsed, or with force, of those created before started.
func (d db) unfinished(ctx context.Context, now time.Time, force bool, started time.Time) ([]string, error) {
	cond, arg := `claimed_until <= ?`, store.Nanos(now)
	if force {
		cond, arg = `created_at < ?`, store.Nanos(started)
	}
	rows, err := d.Query(ctx, `SELECT id FROM mount_rotations WHERE state NOT IN ('done', 'rolled_back') AND `+cond+` ORDER BY created_at`, arg)
	if err != nil {
		return nil, err
	}
	return store.Strings(rows)
}

// list returns a mount's rotations, newest first (every mount's when "").
func (d db) list(ctx context.Context, mount string, limit int) ([]Rotation, error) {
	q, args := `SELECT `+rotationColumns+` FROM mount_rotations`, []any{}
	if mount != "" {
		q += ` WHERE mount_path = ? OR new_path = ?`
		args = append(args, mount, mount)
	}
	rows, err := d.Query(ctx, q+` ORDER BY created_at DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rotation
	for rows.Next() {
		r, err := scanRotation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Schedule is a mount's rotation period.
type Schedule struct {
	Mount  string        `json:"mount"`
	Period time.Duration `json:"-"`
	NextAt time.Time     `json:"next_at"`
}

func (d db) putSchedule(ctx context.Context, s Schedule, now time.Time) error {
	_, err := d.Exec(ctx, `INSERT INTO mount_rotation_schedules (mount_path, period_seconds, next_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mount_path) DO UPDATE SET period_seconds = excluded.period_seconds, next_at = excluded.next_at, updated_at = excluded.updated_at`,
		s.Mount, int64(s.Period/time.Second), store.Nanos(s.NextAt), store.Nanos(now))
	return err
}

func (d db) deleteSchedule(ctx context.Context, mount string) error {
	_, err := d.Exec(ctx, `DELETE FROM mount_rotation_schedules WHERE mount_path = ?`, mount)
	return err
}

func (d db) schedule(ctx context.Context, mount string) (Schedule, bool, error) {
	var s Schedule
	var secs, next int64
	err := d.QueryRow(ctx, `SELECT mount_path, period_seconds, next_at FROM mount_rotation_schedules WHERE mount_path = ?`, mount).Scan(&s.Mount, &secs, &next)
	if store.IsNotFound(err) {
		return Schedule{}, false, nil
	}
	s.Period, s.NextAt = time.Duration(secs)*time.Second, store.Time(next)
	return s, err == nil, err
}

// moveSchedule makes a rotated mount's schedule the new path's, counting
// its next rotation from now.
func (d db) moveSchedule(ctx context.Context, from, to string, now time.Time) error {
	return d.Tx(ctx, func(tx *store.Tx) error {
		var secs int64
		err := tx.QueryRow(ctx, `SELECT period_seconds FROM mount_rotation_schedules WHERE mount_path = ?`, from).Scan(&secs)
		if store.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mount_rotation_schedules WHERE mount_path = ?`, from); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO mount_rotation_schedules (mount_path, period_seconds, next_at, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (mount_path) DO NOTHING`, to, secs, store.Nanos(now.Add(time.Duration(secs)*time.Second)), store.Nanos(now))
		return err
	})
}

// due returns the mounts whose scheduled rotation is due.
func (d db) due(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := d.Query(ctx, `SELECT mount_path FROM mount_rotation_schedules WHERE next_at <= ? ORDER BY next_at`, store.Nanos(now))
	if err != nil {
		return nil, err
	}
	return store.Strings(rows)
}

// postpone moves a schedule's next rotation to next, if it was still due at
// was (so one node starts it).
func (d db) postpone(ctx context.Context, mount string, was, next time.Time) (bool, error) {
	res, err := d.Exec(ctx, `UPDATE mount_rotation_schedules SET next_at = ? WHERE mount_path = ? AND next_at <= ?`,
		store.Nanos(next), mount, store.Nanos(was))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
