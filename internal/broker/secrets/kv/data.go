package kv

import (
	"context"
	"encoding/json"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// found is one version of a key as a read finds it.
type found struct {
	meta *keyMeta
	n    int
	// gone is true when the version is deleted or destroyed; data is then
	// nil and a read answers 404 with the metadata only.
	gone bool
	data map[string]any
}

// find loads version n of key (0: the current one), or nil when the key or
// the version does not exist. A live version costs two Gets.
func (b *Backend) find(ctx context.Context, st engine.Storage, key string, n int) (*found, error) {
	m, err := loadMeta(ctx, st, key)
	if err != nil || m == nil {
		return nil, err
	}
	if n == 0 {
		n = m.CurrentVersion
	}
	v, ok := m.Versions[n]
	if !ok {
		return nil, nil
	}
	out := &found{meta: m, n: n, gone: v.gone(b.now())}
	if !out.gone {
		if out.data, err = loadData(ctx, st, key, n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readData is GET data/:path[?version=N].
func (b *Backend) readData(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	n, _, err := f.Int("version")
	if err != nil {
		return nil, err
	}
	v, err := b.find(ctx, st, key, n)
	if err != nil || v == nil {
		return nil, err
	}
	resp := &engine.Response{Data: map[string]any{"data": nil, "metadata": v.meta.versionFields(v.n)}}
	if v.gone {
		// The Go client hands a 404 with data back as a secret, so callers
		// see that the version exists but was deleted or destroyed.
		resp.Status = 404
		return resp, nil
	}
	resp.Data["data"] = v.data
	return resp, nil
}

// writeData is POST/PUT data/:path {data, options:{cas}}: a new version.
func (b *Backend) writeData(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	data, ok, err := f.Map("data")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fail.Invalidf("no data provided")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fail.Wrap(fail.Invalid, err, "data is not valid JSON")
	}
	cas, hasCAS, err := casOption(f)
	if err != nil {
		return nil, err
	}
	var resp *engine.Response
	err = st.Atomic(ctx, lockName(key), func(tx engine.Storage) error {
		conf, err := loadConfig(ctx, tx)
		if err != nil {
			return err
		}
		m, err := loadMeta(ctx, tx, key)
		if err != nil {
			return err
		}
		if m == nil {
			m = newMeta() // created_time is set by the first version
		}
		if err := checkCAS(conf, m, cas, hasCAS); err != nil {
			return err
		}
		resp, err = b.putVersion(ctx, tx, key, conf, m, raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	return withUnknown(resp, f, "data", "options"), nil
}

// patchData is PATCH data/:path: a JSON merge patch (RFC 7396) of the
// latest version's data, written as a new version. The latest version must
// be live: Vault will not resurrect a deleted secret through a patch.
func (b *Backend) patchData(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	patch, ok, err := f.Map("data")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fail.Invalidf("no data provided")
	}
	cas, hasCAS, err := casOption(f)
	if err != nil {
		return nil, err
	}
	var resp *engine.Response
	err = st.Atomic(ctx, lockName(key), func(tx engine.Storage) error {
		conf, err := loadConfig(ctx, tx)
		if err != nil {
			return err
		}
		m, err := loadMeta(ctx, tx, key)
		if err != nil {
			return err
		}
		if m == nil {
			resp = &engine.Response{Status: 404} // empty body, as in Vault
			return nil
		}
		if err := checkCAS(conf, m, cas, hasCAS); err != nil {
			return err
		}
		v, ok := m.Versions[m.CurrentVersion]
		if !ok {
			resp = &engine.Response{Status: 404}
			return nil
		}
		if v.gone(b.now()) {
			resp = &engine.Response{Status: 404, Data: m.versionFields(m.CurrentVersion)}
			return nil
		}
		data, err := loadData(ctx, tx, key, m.CurrentVersion)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(mergePatch(data, patch))
		if err != nil {
			return fail.Wrap(fail.Invalid, err, "data is not valid JSON")
		}
		resp, err = b.putVersion(ctx, tx, key, conf, m, raw)
		return err
	})
	if err != nil {
		return nil, err
	}
	return withUnknown(resp, f, "data", "options"), nil
}

// deleteLatest is DELETE data/:path: a soft delete of the latest version,
// which undelete can reverse.
func (b *Backend) deleteLatest(ctx context.Context, st engine.Storage, key string, _ engine.Fields) (*engine.Response, error) {
	return nil, st.Atomic(ctx, lockName(key), func(tx engine.Storage) error {
		m, err := loadMeta(ctx, tx, key)
		if err != nil || m == nil {
			return err
		}
		now := b.now().UTC()
		v := m.Versions[m.CurrentVersion]
		if v == nil || v.gone(now) {
			return nil
		}
		v.DeletionTime = now
		return saveMeta(ctx, tx, key, m)
	})
}

// putVersion stores raw as the key's next version, trims versions beyond
// max_versions and answers with the new version's metadata. The data goes
// first: should the metadata write fail, the orphan is overwritten by the
// next write of the same version number.
func (b *Backend) putVersion(ctx context.Context, tx engine.Storage, key string, conf config, m *keyMeta, raw []byte) (*engine.Response, error) {
	now := b.now().UTC()
	dropped := m.addVersion(now, deleteAt(now, conf.DeleteVersionAfter, m.DeleteVersionAfter), conf.MaxVersions)
	if err := saveData(ctx, tx, key, m.CurrentVersion, raw); err != nil {
		return nil, err
	}
	if err := saveMeta(ctx, tx, key, m); err != nil {
		return nil, err
	}
	for _, n := range dropped {
		if err := tx.Delete(ctx, verKey(key, n)); err != nil {
			return nil, err
		}
	}
	return &engine.Response{Data: m.versionFields(m.CurrentVersion)}, nil
}

// casOption reads options.cas. Vault decodes it weakly, so 3 and "3" both
// work, and a present null is 0.
func casOption(f engine.Fields) (cas int, given bool, err error) {
	opts, _, err := f.Map("options")
	if err != nil {
		return 0, false, err
	}
	if _, given = opts["cas"]; !given {
		return 0, false, nil
	}
	cas, _, err = engine.Fields(opts).Int("cas")
	if err != nil {
		return 0, false, fail.Invalidf("error parsing check-and-set parameter")
	}
	return cas, true, nil
}

// checkCAS enforces check-and-set: a given cas must equal the current
// version (0 for a key with no versions yet), and one is required when the
// mount or the key says so.
func checkCAS(conf config, m *keyMeta, cas int, given bool) error {
	switch {
	case given:
		if cas != m.CurrentVersion {
			return fail.Invalidf("check-and-set parameter did not match the current version")
		}
	case conf.CASRequired, m.CASRequired:
		return fail.Invalidf("check-and-set parameter required for this call")
	}
	return nil
}

// mergePatch applies an RFC 7396 JSON merge patch: objects merge key by key,
// null removes a key, anything else replaces. target is not modified.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, _ := target.(map[string]any)
	out := make(map[string]any, len(t)+len(p))
	for k, v := range t {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}
