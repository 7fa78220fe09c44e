package kv

import (
	"context"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// deleteVersions is POST delete/:path {versions}: a soft delete of each
// named version. Missing, deleted and destroyed versions are skipped.
func (b *Backend) deleteVersions(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	return b.changeVersions(ctx, st, key, f, func(_ engine.Storage, _ int, v *versionMeta, now time.Time) error {
		if !v.gone(now) {
			v.DeletionTime = now
		}
		return nil
	})
}

// undeleteVersions is POST undelete/:path {versions}. It also cancels a
// deletion scheduled by delete_version_after, as Vault's does. A destroyed
// version stays destroyed.
func (b *Backend) undeleteVersions(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	return b.changeVersions(ctx, st, key, f, func(_ engine.Storage, _ int, v *versionMeta, _ time.Time) error {
		if !v.Destroyed {
			v.DeletionTime = time.Time{}
		}
		return nil
	})
}

// destroyVersions is PUT destroy/:path {versions}: the data of each named
// version is removed for good; its metadata stays, marked destroyed.
func (b *Backend) destroyVersions(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	return b.changeVersions(ctx, st, key, f, func(tx engine.Storage, n int, v *versionMeta, _ time.Time) error {
		v.Destroyed = true
		return tx.Delete(ctx, verKey(key, n))
	})
}

// changeVersions applies change to each version named in "versions" that the
// key still keeps, under the key's lock, and saves the metadata. A missing
// key is not an error, as in Vault.
func (b *Backend) changeVersions(ctx context.Context, st engine.Storage, key string, f engine.Fields,
	change func(tx engine.Storage, n int, v *versionMeta, now time.Time) error) (*engine.Response, error) {
	versions, err := versionList(f)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fail.Invalidf("no version number provided")
	}
	err = st.Atomic(ctx, lockName(key), func(tx engine.Storage) error {
		m, err := loadMeta(ctx, tx, key)
		if err != nil || m == nil {
			return err
		}
		now := b.now().UTC()
		for _, n := range versions {
			if v, ok := m.Versions[n]; ok {
				if err := change(tx, n, v, now); err != nil {
					return err
				}
			}
		}
		return saveMeta(ctx, tx, key, m)
	})
	if err != nil {
		return nil, err
	}
	return withUnknown(nil, f, "versions"), nil
}

// versionList reads "versions" as Vault's TypeCommaIntSlice does: a JSON
// array of integers, a single integer, or a comma-separated string.
func versionList(f engine.Fields) ([]int, error) {
	raw, ok := f["versions"]
	if !ok || raw == nil {
		return nil, nil
	}
	var items []any
	switch x := raw.(type) {
	case []any:
		items = x
	case []string: // a query parameter given more than once
		for _, s := range x {
			items = append(items, s)
		}
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		items = []any{x}
	}
	out := make([]int, 0, len(items))
	for _, it := range items {
		n, ok, err := engine.Fields{"versions": it}.Int("versions")
		if err != nil || !ok {
			return nil, fail.Invalidf(`error converting input for field "versions": expected a list of integers`)
		}
		out = append(out, n)
	}
	return out, nil
}

// readSubkeys is GET subkeys/:path[?version=N&depth=D]: the shape of a
// version's data without its values.
func (b *Backend) readSubkeys(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	n, _, err := f.Int("version")
	if err != nil {
		return nil, err
	}
	depth, _, err := f.Int("depth")
	if err != nil {
		return nil, err
	}
	if depth < 0 {
		return nil, fail.Invalidf("depth must be a non-negative integer")
	}
	v, err := b.find(ctx, st, key, n)
	if err != nil || v == nil {
		return nil, err
	}
	resp := &engine.Response{Data: map[string]any{"subkeys": nil, "metadata": v.meta.versionFields(v.n)}}
	if v.gone {
		resp.Status = 404
		return resp, nil
	}
	resp.Data["subkeys"] = subkeys(v.data, depth)
	return resp, nil
}

// subkeys copies m with every value replaced by null except objects, which
// are walked; depth > 0 makes objects at that depth leaves too. Arrays are
// leaves, as in Vault.
func subkeys(m map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		child, isMap := v.(map[string]any)
		if !isMap || depth == 1 {
			out[k] = nil
			continue
		}
		out[k] = subkeys(child, max(depth-1, 0))
	}
	return out
}
