package policyset

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/store"
)

// SignPolicyUpload is the signed-URL purpose of a policy set version's
// upload.
const SignPolicyUpload = "policy-set-upload"

// CreateVersion starts an upload of set setID's files: the version is
// pending until its archive is PUT to the URL its UploadToken makes.
func (s *Service) CreateVersion(ctx context.Context, setID string) (Version, error) {
	set, err := s.setFor(ctx, setID, access.Update)
	if err != nil {
		return Version{}, err
	}
	now := store.Stored(s.base.Now())
	v := Version{ID: resource.NewID("polsetver"), SetID: set.ID, Status: VersionPending, CreatedAt: now, UpdatedAt: now}
	if err := s.base.Record(ctx, "platform.policy_set.version.create", map[string]any{"organization": set.Organization,
		"policy_set_id": set.ID, "id": v.ID}); err != nil {
		return Version{}, err
	}
	if err := insertVersion(ctx, s.base.DB, v); err != nil {
		return Version{}, err
	}
	if v.UploadToken, err = s.base.Sign(SignPolicyUpload, v.ID); err != nil {
		return Version{}, err
	}
	return v, nil
}

// Version returns policy set version id, with an upload token while it
// is pending and the caller may upload.
func (s *Service) Version(ctx context.Context, id string) (Version, error) {
	if !resource.ValidID("polsetver", id) {
		return Version{}, fail.NotFoundf("policy set version %q not found", fail.Clip(id))
	}
	v, err := readVersion(ctx, s.base.DB, id)
	if err != nil {
		return Version{}, resource.NotFound(err, "policy set version %q not found", id)
	}
	set, err := s.setFor(ctx, v.SetID, access.Read)
	if err != nil {
		return Version{}, err
	}
	if v.Status == VersionPending && s.base.Authorize(ctx, SetPath(set.Organization, set.ID), access.Update) == nil {
		if v.UploadToken, err = s.base.Sign(SignPolicyUpload, v.ID); err != nil {
			return Version{}, err
		}
	}
	return v, nil
}

// NewestVersion returns set setID's newest version, if any.
func (s *Service) NewestVersion(ctx context.Context, setID string) (Version, bool, error) {
	set, err := s.setFor(ctx, setID, access.Read)
	if err != nil {
		return Version{}, false, err
	}
	v, err := newestVersion(ctx, s.base.DB, set.ID)
	if store.IsNotFound(err) {
		return Version{}, false, nil
	}
	return v, err == nil, err
}

// Owns reports whether token is a signed URL of a policy set version's
// upload (the upload URLs of all kinds share one route).
func (s *Service) Owns(token string) bool {
	g, err := s.base.OpenSigned(token)
	return err == nil && g.Purpose == SignPolicyUpload
}

// Upload takes the archive of the pending version a signed upload token
// names: a .tar.gz with policies.hcl or policies.json at its root, read as
// HCP Terraform reads a policy set. A set that does not parse or compile is refused
// (the version errors, naming why) and the set keeps its files; one that
// parses becomes the set's files and the set gets a new revision.
func (s *Service) Upload(ctx context.Context, token string, archive []byte) error {
	g, err := s.base.OpenSigned(token)
	if err != nil || g.Purpose != SignPolicyUpload {
		return fail.NotFoundf("the URL is invalid or has expired")
	}
	v, err := readVersion(ctx, s.base.DB, g.ID)
	if err != nil {
		return resource.NotFound(err, "policy set version %q not found", g.ID)
	}
	if v.Status != VersionPending {
		return fail.Conflictf("policy set version %s was already uploaded", v.ID)
	}
	files, perr := s.parseArchive(ctx, v.SetID, archive)
	status, msg := VersionReady, ""
	if perr != nil {
		status, msg = VersionErrored, resource.ClipTo(fail.Message(perr), resource.MaxDescriptionLen)
	}
	var body []byte
	if perr == nil {
		if body, err = json.Marshal(files); err != nil {
			return err
		}
	}
	err = s.base.DB.Tx(ctx, func(tx *store.Tx) error {
		res, err := finishVersion(ctx, tx, v.ID, status, msg, s.now())
		if err := resource.Swapped(res, err, "policy set version %s was already uploaded", v.ID); err != nil {
			return err
		}
		if perr != nil {
			return nil
		}
		return storeFiles(ctx, tx, v.SetID, v.ID, body, s.now())
	})
	if err != nil {
		return err
	}
	return perr
}

// parseArchive reads and checks an uploaded set, and compiles it when the
// service has an engine; the files as text.
func (s *Service) parseArchive(ctx context.Context, setID string, archive []byte) (map[string]string, error) {
	files, err := policy.ReadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	set, err := policy.Parse(files)
	if err != nil {
		return nil, err
	}
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if s.engine != nil {
		set.ID, set.Version = setID, "upload"
		if err := s.engine.Compile(ctx, set); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(files))
	for name, b := range files {
		out[name] = string(b)
	}
	return out, nil
}
