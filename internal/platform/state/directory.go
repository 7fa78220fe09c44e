package state

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Directory stores and opens states for the run lifecycle, which has
// authorized its caller (an applying run's agent, a job, a signed URL): it
// authorizes nothing itself.
type Directory struct {
	base resource.Deps
	db   db
}

// NewDirectory returns a Directory.
func NewDirectory(base resource.Deps) Directory { return Directory{base: base, db: db{base.DB}} }

// Store stores state as w's newest state version, written by run runID.
// Its serial must exceed the current one's and its lineage match, so a
// stale or foreign state never replaces the current one; a state equal to
// the current one leaves it as it is and is returned.
func (d Directory) Store(ctx context.Context, w workspace.Workspace, runID string, state []byte) (Version, error) {
	if len(state) > MaxSize {
		return Version{}, fail.Invalidf("state is larger than %d bytes", MaxSize)
	}
	var head struct {
		Serial  *int64 `json:"serial"`
		Lineage string `json:"lineage"`
	}
	if err := json.Unmarshal(state, &head); err != nil || head.Serial == nil || *head.Serial < 0 || head.Lineage == "" || len(head.Lineage) > 128 {
		return Version{}, fail.Invalidf("state must be Terraform state JSON with a serial and a lineage")
	}
	sum := md5.Sum(state)
	sv := Version{ID: resource.NewID("sv"), WorkspaceID: w.ID, RunID: runID, Serial: *head.Serial, Lineage: head.Lineage,
		MD5: hex.EncodeToString(sum[:]), Size: int64(len(state)), CreatedAt: store.Stored(d.base.Now())}
	sealed, err := d.base.Seal.Encrypt(state, stateAAD(sv.ID))
	if err != nil {
		return Version{}, fail.Wrap(fail.Internal, err, "could not seal the state")
	}
	if err := d.base.Record(ctx, "platform.state_version.create", map[string]any{
		"organization": w.Organization, "workspace": w.Name, "workspace_id": w.ID, "run_id": runID, "id": sv.ID,
		"serial": sv.Serial, "lineage": sv.Lineage, "md5": sv.MD5,
	}); err != nil {
		return Version{}, err
	}
	return d.db.insert(ctx, sv, sealed)
}

// Content opens state version id. Reading state is on the record: state
// holds secrets. viaURL says a signed URL is the reader.
func (d Directory) Content(ctx context.Context, id string, viaURL bool) ([]byte, error) {
	pt, wsID, err := d.open(ctx, id)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"id": id, "workspace_id": wsID}
	if viaURL {
		body["by"] = map[string]string{"kind": "signed-url", "id": id}
	}
	if _, err := d.base.Audit.Append(ctx, "platform.state_version.read", body); err != nil {
		return nil, fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return pt, nil
}

// CurrentContent opens workspace wsID's current state; nil for none.
func (d Directory) CurrentContent(ctx context.Context, wsID string) ([]byte, error) {
	sv, err := d.db.current(ctx, wsID)
	switch {
	case store.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return d.Content(ctx, sv.ID, false)
}

// open decrypts state version id without putting it on the record; only
// what is not secret (counts) may be taken from it.
func (d Directory) open(ctx context.Context, id string) ([]byte, string, error) {
	sealed, wsID, err := d.db.sealed(ctx, id)
	if err != nil {
		return nil, "", err
	}
	pt, err := d.base.Seal.Decrypt(sealed, stateAAD(id))
	if err != nil {
		return nil, "", fail.Wrap(fail.Internal, err, "could not open state version "+id)
	}
	return pt, wsID, nil
}
