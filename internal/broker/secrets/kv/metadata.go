package kv

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Vault's limits on custom_metadata.
const (
	maxCustomKeys     = 64
	maxCustomKeyLen   = 128
	maxCustomValueLen = 512
)

// readConfig is GET config. Settings read back as stored (max_versions 0,
// not the 10 it means), with delete_version_after as a Go duration string
// ("0s"), as in Vault.
func (b *Backend) readConfig(ctx context.Context, st engine.Storage) (*engine.Response, error) {
	c, err := loadConfig(ctx, st)
	if err != nil {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{
		"max_versions":         c.MaxVersions,
		"cas_required":         c.CASRequired,
		"delete_version_after": c.DeleteVersionAfter.String(),
	}}, nil
}

// writeConfig is POST config; fields not given keep their values.
func (b *Backend) writeConfig(ctx context.Context, st engine.Storage, f engine.Fields) (*engine.Response, error) {
	s, err := parseSettings(f, false)
	if err != nil {
		return nil, err
	}
	err = st.Atomic(ctx, configLock, func(tx engine.Storage) error {
		c, err := loadConfig(ctx, tx)
		if err != nil {
			return err
		}
		if s.maxVersions != nil {
			c.MaxVersions = *s.maxVersions
		}
		if s.casRequired != nil {
			c.CASRequired = *s.casRequired
		}
		if s.deleteVersionAfter != nil {
			c.DeleteVersionAfter = *s.deleteVersionAfter
		}
		return saveConfig(ctx, tx, c)
	})
	if err != nil {
		return nil, err
	}
	return withUnknown(nil, f, "max_versions", "cas_required", "delete_version_after"), nil
}

// settings are the fields a config or metadata write may set; nil means
// not given. Only metadata has custom_metadata.
type settings struct {
	maxVersions        *int
	casRequired        *bool
	deleteVersionAfter *time.Duration
	// custom is custom_metadata: the new map on a write; on a patch the
	// changes, where a nil value removes a key. clearCustom is a patch
	// that sets custom_metadata itself to null.
	custom      map[string]*string
	clearCustom bool
}

// parseSettings reads the settings fields. On a patch a null resets a field,
// as a JSON merge patch removes it.
func parseSettings(f engine.Fields, patch bool) (settings, error) {
	var s settings
	isNull := func(name string) bool { return patch && f.Has(name) && f[name] == nil }
	if n, ok, err := f.Int("max_versions"); err != nil {
		return s, err
	} else if n < 0 {
		return s, fail.Invalidf("max_versions cannot be negative")
	} else if ok || isNull("max_versions") {
		s.maxVersions = &n
	}
	if v, ok, err := f.Bool("cas_required"); err != nil {
		return s, err
	} else if ok || isNull("cas_required") {
		s.casRequired = &v
	}
	if d, ok, err := f.Duration("delete_version_after"); err != nil {
		return s, err
	} else if d < 0 {
		return s, fail.Invalidf("delete_version_after cannot be negative")
	} else if ok || isNull("delete_version_after") {
		s.deleteVersionAfter = &d
	}
	return s, nil
}

// parseCustom reads custom_metadata into s: on a write a map of strings
// (or key=value pairs), on a patch a map whose null values remove keys.
func (s *settings) parseCustom(f engine.Fields, patch bool) error {
	if patch && f.Has("custom_metadata") && f["custom_metadata"] == nil {
		s.clearCustom = true
		return nil
	}
	if !patch {
		m, ok, err := f.StringMap("custom_metadata")
		if err != nil || !ok {
			return err
		}
		s.custom = map[string]*string{}
		for k, v := range m {
			s.custom[k] = &v
		}
		return nil
	}
	m, ok, err := f.Map("custom_metadata")
	if err != nil || !ok {
		return err
	}
	s.custom = map[string]*string{}
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			s.custom[k] = nil
		case string:
			s.custom[k] = &x
		default:
			return fail.Invalidf(`error converting input for field "custom_metadata": expected a map of strings`)
		}
	}
	return nil
}

// readMetadata is GET metadata/:path.
func (b *Backend) readMetadata(ctx context.Context, st engine.Storage, key string, _ engine.Fields) (*engine.Response, error) {
	m, err := loadMeta(ctx, st, key)
	if err != nil || m == nil {
		return nil, err
	}
	versions := make(map[string]any, len(m.Versions))
	for n, v := range m.Versions {
		versions[strconv.Itoa(n)] = v.fields()
	}
	return &engine.Response{Data: map[string]any{
		"cas_required":         m.CASRequired,
		"created_time":         formatTime(m.CreatedTime),
		"current_version":      m.CurrentVersion,
		"custom_metadata":      m.customMetadata(),
		"delete_version_after": m.DeleteVersionAfter.String(),
		"max_versions":         m.MaxVersions,
		"oldest_version":       m.OldestVersion,
		"updated_time":         formatTime(m.UpdatedTime),
		"versions":             versions,
	}}, nil
}

// writeMetadata is POST metadata/:path: it sets the key's settings, creating
// the key without a version if need be; custom_metadata is replaced whole.
func (b *Backend) writeMetadata(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	return b.setMetadata(ctx, st, key, f, false)
}

// patchMetadata is PATCH metadata/:path: a merge patch of an existing key's
// settings; custom_metadata merges key by key.
func (b *Backend) patchMetadata(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	return b.setMetadata(ctx, st, key, f, true)
}

func (b *Backend) setMetadata(ctx context.Context, st engine.Storage, key string, f engine.Fields, patch bool) (*engine.Response, error) {
	s, err := parseSettings(f, patch)
	if err != nil {
		return nil, err
	}
	if err := s.parseCustom(f, patch); err != nil {
		return nil, err
	}
	var resp *engine.Response
	err = st.Atomic(ctx, lockName(key), func(tx engine.Storage) error {
		m, err := loadMeta(ctx, tx, key)
		if err != nil {
			return err
		}
		now := b.now().UTC()
		if m == nil {
			if patch {
				resp = &engine.Response{Status: 404} // empty body, as in Vault
				return nil
			}
			m = newMeta()
			m.CreatedTime = now
		}
		if s.maxVersions != nil {
			m.MaxVersions = *s.maxVersions
		}
		if s.casRequired != nil {
			m.CASRequired = *s.casRequired
		}
		if s.deleteVersionAfter != nil {
			m.DeleteVersionAfter = *s.deleteVersionAfter
		}
		m.CustomMetadata = s.applyCustom(m.CustomMetadata, patch)
		if err := checkCustom(m.CustomMetadata); err != nil {
			return err
		}
		m.UpdatedTime = now
		return saveMeta(ctx, tx, key, m)
	})
	if err != nil {
		return nil, err
	}
	return withUnknown(resp, f, "max_versions", "cas_required", "delete_version_after", "custom_metadata"), nil
}

// applyCustom returns the key's custom metadata after the write or patch.
func (s settings) applyCustom(old map[string]string, patch bool) map[string]string {
	switch {
	case s.clearCustom:
		return nil
	case s.custom == nil:
		return old
	}
	out := map[string]string{}
	if patch {
		for k, v := range old {
			out[k] = v
		}
	}
	for k, v := range s.custom {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

// checkCustom enforces Vault's limits on custom_metadata, reporting every
// violation (in key order, so the message is stable).
func checkCustom(m map[string]string) error {
	const prefix = "custom_metadata validation failed"
	var errs []string
	if len(m) > maxCustomKeys {
		errs = append(errs, fmt.Sprintf("%s: payload must contain at most %d keys, provided %d", prefix, maxCustomKeys, len(m)))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		if len(k) == 0 || len(k) > maxCustomKeyLen {
			errs = append(errs, fmt.Sprintf("%s: length of key %q is %d but must be 0 < len(key) <= %d", prefix, k, len(k), maxCustomKeyLen))
		}
		if len(v) > maxCustomValueLen {
			errs = append(errs, fmt.Sprintf("%s: length of value for key %q is %d but must be <= %d", prefix, k, len(v), maxCustomValueLen))
		}
		if !printable(k) {
			errs = append(errs, fmt.Sprintf("%s: key %q contains unprintable characters", prefix, k))
		}
		if !printable(v) {
			errs = append(errs, fmt.Sprintf("%s: value for key %q contains unprintable characters", prefix, k))
		}
	}
	if len(errs) > 0 {
		return fail.Invalidf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// deleteMetadata is DELETE metadata/:path: the key and every version's
// data go for good.
func (b *Backend) deleteMetadata(ctx context.Context, st engine.Storage, key string, _ engine.Fields) (*engine.Response, error) {
	return nil, st.Atomic(ctx, lockName(key), func(tx engine.Storage) error {
		m, err := loadMeta(ctx, tx, key)
		if err != nil || m == nil {
			return err
		}
		for n := range m.Versions {
			if err := tx.Delete(ctx, verKey(key, n)); err != nil {
				return err
			}
		}
		return tx.Delete(ctx, metaKey(key))
	})
}

// listMetadata is LIST metadata/[:prefix/][?exclude_deleted=true]: the keys
// and folders directly under the prefix. exclude_deleted leaves out keys
// whose latest version is deleted or destroyed (or that have none); it reads
// each key's metadata, so it costs a Get per key.
func (b *Backend) listMetadata(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error) {
	exclude, _, err := f.Bool("exclude_deleted")
	if err != nil {
		return nil, err
	}
	prefix, ok := listPrefix(key)
	if !ok {
		return nil, nil
	}
	keys, err := st.List(ctx, metaPrefix+prefix)
	if err != nil {
		return nil, err
	}
	if exclude {
		now := b.now()
		kept := keys[:0]
		for _, k := range keys {
			if !strings.HasSuffix(k, "/") {
				m, err := loadMeta(ctx, st, prefix+k)
				if err != nil {
					return nil, err
				}
				if m == nil || m.latestGone(now) {
					continue
				}
			}
			kept = append(kept, k)
		}
		keys = kept
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return &engine.Response{Data: map[string]any{"keys": keys}}, nil
}
