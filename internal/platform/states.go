package platform

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// StateVersion is one Terraform state written by a run.
type StateVersion struct {
	ID            string
	WorkspaceID   string
	RunID         string
	Serial        int64
	Lineage       string
	MD5           string // hex, of the state as stored
	Size          int64
	CreatedAt     time.Time
	DownloadToken string // signed token of the download URL
}

func statesPath(org, ws string) string { return resource.WorkspacePath(org, ws) + "/state-versions" }

func stateAAD(id string) string { return "platform/state_versions/" + id }

// StoreStateVersion stores state as workspace's newest state version,
// written by run runID while it applies. Its serial must exceed the
// current one's and its lineage match, as Terraform's own backends demand,
// so a stale or foreign state never replaces the current one.
func (s *Service) StoreStateVersion(ctx context.Context, runID string, state []byte) (StateVersion, error) {
	r, w, err := s.run(ctx, runID)
	if err != nil {
		return StateVersion{}, err
	}
	if err := s.authorizeAgent(ctx, w, r, r.ApplyID); err != nil { // applies store state
		return StateVersion{}, err
	}
	if r.Status != RunApplying {
		return StateVersion{}, fail.Conflictf("run %s is %s, not applying", r.ID, r.Status)
	}
	if len(state) > MaxStateSize {
		return StateVersion{}, fail.Invalidf("state is larger than %d bytes", MaxStateSize)
	}
	var head struct {
		Serial  *int64 `json:"serial"`
		Lineage string `json:"lineage"`
	}
	if err := json.Unmarshal(state, &head); err != nil || head.Serial == nil || *head.Serial < 0 || head.Lineage == "" || len(head.Lineage) > 128 {
		return StateVersion{}, fail.Invalidf("state must be Terraform state JSON with a serial and a lineage")
	}
	sum := md5.Sum(state)
	sv := StateVersion{ID: resource.NewID("sv"), WorkspaceID: w.ID, RunID: r.ID, Serial: *head.Serial, Lineage: head.Lineage,
		MD5: hex.EncodeToString(sum[:]), Size: int64(len(state)), CreatedAt: resource.FromNanos(resource.Nanos(s.base.Now()))}
	sealed, err := s.base.Seal.Encrypt(state, stateAAD(sv.ID))
	if err != nil {
		return StateVersion{}, fail.Wrap(fail.Internal, err, "could not seal the state")
	}
	if err := s.base.Record(ctx, "platform.state_version.create", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "run_id": r.ID, "id": sv.ID,
		"serial": sv.Serial, "lineage": sv.Lineage, "md5": sv.MD5,
	}); err != nil {
		return StateVersion{}, err
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "workspace-state:"+w.ID); err != nil {
			return err
		}
		cur, err := scanState(tx.QueryRow(ctx, `SELECT `+stateColumns+` FROM state_versions WHERE workspace_id = ? ORDER BY number DESC LIMIT 1`, w.ID))
		number := 1
		switch {
		case store.IsNotFound(err):
		case err != nil:
			return err
		case cur.Lineage == sv.Lineage && cur.Serial == sv.Serial && cur.MD5 == sv.MD5:
			// An apply that changed nothing leaves the state as it was
			// (same serial): nothing to store.
			sv = cur
			return nil
		case cur.Lineage != sv.Lineage:
			return fail.Conflictf("state lineage %q does not match the workspace's %q", resource.Clip(sv.Lineage), cur.Lineage)
		case sv.Serial <= cur.Serial:
			return fail.Conflictf("state serial %d is not greater than the current serial %d", sv.Serial, cur.Serial)
		}
		if err == nil {
			if err := tx.QueryRow(ctx, `SELECT MAX(number) + 1 FROM state_versions WHERE workspace_id = ?`, w.ID).Scan(&number); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO state_versions (id, workspace_id, run_id, number, serial, lineage, md5, size, state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sv.ID, w.ID, r.ID, number, sv.Serial, sv.Lineage, sv.MD5, sv.Size, sealed, resource.Nanos(sv.CreatedAt))
		return err
	})
	if err != nil {
		return StateVersion{}, err
	}
	return sv, nil // unchanged: the current version
}

const stateColumns = `id, workspace_id, run_id, serial, lineage, md5, size, created_at`

func scanState(row interface{ Scan(...any) error }) (StateVersion, error) {
	var sv StateVersion
	var created int64
	if err := row.Scan(&sv.ID, &sv.WorkspaceID, &sv.RunID, &sv.Serial, &sv.Lineage, &sv.MD5, &sv.Size, &created); err != nil {
		return StateVersion{}, err
	}
	sv.CreatedAt = resource.FromNanos(created)
	return sv, nil
}

// withToken signs sv's download URL for a caller allowed to read it.
func (s *Service) withToken(sv StateVersion) (StateVersion, error) {
	var err error
	sv.DownloadToken, err = s.base.Sign(resource.SignState, sv.ID)
	return sv, err
}

// StateVersion returns state version id.
func (s *Service) StateVersion(ctx context.Context, id string) (StateVersion, error) {
	if !resource.ValidID("sv", id) {
		return StateVersion{}, fail.NotFoundf("state version %q not found", resource.Clip(id))
	}
	sv, err := scanState(s.base.DB.QueryRow(ctx, `SELECT `+stateColumns+` FROM state_versions WHERE id = ?`, id))
	if err != nil {
		return StateVersion{}, resource.NotFound(err, "state version %q not found", id)
	}
	w, err := s.ws.Workspace(ctx, sv.WorkspaceID)
	if err != nil {
		return StateVersion{}, err
	}
	if err := s.base.Authorize(ctx, statesPath(w.Organization, w.Name), access.Read); err != nil {
		return StateVersion{}, err
	}
	return s.withToken(sv)
}

// CurrentStateVersion returns workspace wsID's newest state version.
func (s *Service) CurrentStateVersion(ctx context.Context, wsID string) (StateVersion, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return StateVersion{}, err
	}
	if err := s.base.Authorize(ctx, statesPath(w.Organization, w.Name), access.Read); err != nil {
		return StateVersion{}, err
	}
	sv, err := scanState(s.base.DB.QueryRow(ctx, `SELECT `+stateColumns+` FROM state_versions WHERE workspace_id = ? ORDER BY number DESC LIMIT 1`, w.ID))
	if err != nil {
		return StateVersion{}, resource.NotFound(err, "workspace %q has no state", w.Name)
	}
	return s.withToken(sv)
}

// StateVersions lists the state versions of workspace ws in org, newest
// first, with the total count.
func (s *Service) StateVersions(ctx context.Context, org, ws string, p resource.Page) ([]StateVersion, int, error) {
	w, err := s.Workspaces.Workspace(ctx, org, ws)
	if err != nil {
		return nil, 0, err
	}
	if err := s.base.Authorize(ctx, statesPath(w.Organization, w.Name), access.List); err != nil {
		return nil, 0, err
	}
	var total int
	if err := s.base.DB.QueryRow(ctx, `SELECT COUNT(*) FROM state_versions WHERE workspace_id = ?`, w.ID).Scan(&total); err != nil {
		return nil, 0, err
	}
	pg := p.Normalize()
	rows, err := s.base.DB.Query(ctx, `SELECT `+stateColumns+` FROM state_versions WHERE workspace_id = ? ORDER BY number DESC LIMIT ? OFFSET ?`,
		w.ID, pg.Size, pg.Offset())
	if err != nil {
		return nil, 0, err
	}
	out, err := resource.ScanAll(rows, scanState)
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

// stateContent opens state version id. Reading state is on the record:
// state holds secrets.
func (s *Service) stateContent(ctx context.Context, id string, viaURL bool) ([]byte, error) {
	var sealed []byte
	var wsID string
	if err := s.base.DB.QueryRow(ctx, `SELECT state, workspace_id FROM state_versions WHERE id = ?`, id).Scan(&sealed, &wsID); err != nil {
		return nil, resource.NotFound(err, "state version %q not found", id)
	}
	pt, err := s.base.Seal.Decrypt(sealed, stateAAD(id))
	if err != nil {
		return nil, fail.Wrap(fail.Internal, err, "could not open state version "+id)
	}
	body := map[string]any{"id": id, "workspace_id": wsID}
	if viaURL {
		body["by"] = map[string]string{"kind": "signed-url", "id": id}
	}
	if _, err := s.base.Audit.Append(ctx, "platform.state_version.read", body); err != nil {
		return nil, fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return pt, nil
}
