package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
)

// Storage keys of a version 2 mount.
const (
	configKey  = "config"
	metaPrefix = "meta/"
	verPrefix  = "ver/"
	// configLock serialises config updates, which read and rewrite one
	// document. Key locks are "kv/<path>", so the two cannot collide.
	configLock = "kv-config"
)

// defaultMaxVersions is what max_versions 0 means, in the mount's config and
// in a key's metadata alike.
const defaultMaxVersions = 10

// config is the mount's settings document.
type config struct {
	MaxVersions        int           `json:"max_versions"`
	CASRequired        bool          `json:"cas_required"`
	DeleteVersionAfter time.Duration `json:"delete_version_after"`
}

// keyMeta is a key's metadata document: its settings and the state of every
// version it still keeps. Version data lives in separate documents so that
// listing versions never loads secrets.
type keyMeta struct {
	CreatedTime        time.Time            `json:"created_time"`
	UpdatedTime        time.Time            `json:"updated_time"`
	CurrentVersion     int                  `json:"current_version"`
	OldestVersion      int                  `json:"oldest_version"`
	MaxVersions        int                  `json:"max_versions"`
	CASRequired        bool                 `json:"cas_required"`
	DeleteVersionAfter time.Duration        `json:"delete_version_after"`
	CustomMetadata     map[string]string    `json:"custom_metadata,omitempty"`
	Versions           map[int]*versionMeta `json:"versions"`
}

// versionMeta is the state of one version. A DeletionTime in the future is a
// deletion scheduled by delete_version_after; one in the past means deleted.
type versionMeta struct {
	CreatedTime  time.Time `json:"created_time"`
	DeletionTime time.Time `json:"deletion_time,omitzero"`
	Destroyed    bool      `json:"destroyed,omitempty"`
}

// versionDoc is the document holding one version's data.
type versionDoc struct {
	Data json.RawMessage `json:"data"`
}

func metaKey(key string) string       { return metaPrefix + key }
func verKey(key string, n int) string { return verPrefix + key + "/" + strconv.Itoa(n) }
func lockName(key string) string      { return "kv/" + key }
func newMeta() *keyMeta               { return &keyMeta{Versions: map[int]*versionMeta{}} }

// deleted reports whether the version's deletion time has come.
func (v *versionMeta) deleted(now time.Time) bool {
	return !v.DeletionTime.IsZero() && !now.Before(v.DeletionTime)
}

// gone reports whether a read of the version shows only its metadata.
func (v *versionMeta) gone(now time.Time) bool { return v.Destroyed || v.deleted(now) }

// latestGone reports whether the key has no readable latest version.
func (m *keyMeta) latestGone(now time.Time) bool {
	v := m.Versions[m.CurrentVersion]
	return v == nil || v.gone(now)
}

// formatTime renders a time as Vault does (RFC 3339 with nanoseconds, UTC),
// and an unset time as "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (v *versionMeta) fields() map[string]any {
	return map[string]any{
		"created_time":  formatTime(v.CreatedTime),
		"deletion_time": formatTime(v.DeletionTime),
		"destroyed":     v.Destroyed,
	}
}

// versionFields is the metadata Vault shows with version n: in a read, after
// a write, and alone when the version is deleted or destroyed.
func (m *keyMeta) versionFields(n int) map[string]any {
	out := m.Versions[n].fields()
	out["version"] = n
	out["custom_metadata"] = m.customMetadata()
	return out
}

// customMetadata is the key's custom metadata for a response: null when
// there is none, as in Vault.
func (m *keyMeta) customMetadata() any {
	if len(m.CustomMetadata) == 0 {
		return nil
	}
	out := make(map[string]string, len(m.CustomMetadata))
	for k, v := range m.CustomMetadata {
		out[k] = v
	}
	return out
}

// addVersion records version CurrentVersion+1 and forgets the oldest
// versions beyond the key's limit, as Vault's KeyMetadata.AddVersion does
// (so oldest_version stays 0 until the first trim). It returns the numbers
// forgotten, whose data the caller deletes.
func (m *keyMeta) addVersion(now, deleteAt time.Time, mountMax int) []int {
	m.CurrentVersion++
	m.Versions[m.CurrentVersion] = &versionMeta{CreatedTime: now, DeletionTime: deleteAt}
	m.UpdatedTime = now
	if m.CreatedTime.IsZero() {
		m.CreatedTime = now
	}
	limit := m.MaxVersions
	if limit <= 0 {
		limit = mountMax
	}
	if limit <= 0 {
		limit = defaultMaxVersions
	}
	if m.CurrentVersion-m.OldestVersion < limit {
		return nil
	}
	last := m.CurrentVersion - limit
	var dropped []int
	for n := m.OldestVersion; n <= last; n++ {
		if _, ok := m.Versions[n]; ok {
			delete(m.Versions, n)
			dropped = append(dropped, n)
		}
	}
	m.OldestVersion = last + 1
	return dropped
}

// deleteAt is when a version created at t is to be deleted: after the
// shorter of the mount's and the key's delete_version_after among those set,
// as in Vault; the zero time when neither is set.
func deleteAt(t time.Time, mount, key time.Duration) time.Time {
	d := key
	if mount > 0 && (d <= 0 || mount < d) {
		d = mount
	}
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}

func loadConfig(ctx context.Context, st engine.Storage) (config, error) {
	var c config
	raw, err := st.Get(ctx, configKey)
	if err != nil || raw == nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("kv: decode config: %w", err)
	}
	return c, nil
}

func saveConfig(ctx context.Context, st engine.Storage, c config) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return st.Put(ctx, configKey, raw)
}

// loadMeta returns the key's metadata, or nil when the key does not exist.
func loadMeta(ctx context.Context, st engine.Storage, key string) (*keyMeta, error) {
	raw, err := st.Get(ctx, metaKey(key))
	if err != nil || raw == nil {
		return nil, err
	}
	var m keyMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("kv: decode metadata of %q: %w", key, err)
	}
	if m.Versions == nil {
		m.Versions = map[int]*versionMeta{}
	}
	return &m, nil
}

func saveMeta(ctx context.Context, st engine.Storage, key string, m *keyMeta) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return st.Put(ctx, metaKey(key), raw)
}

// loadData returns version n's data. Numbers stay json.Number so that what
// was written reads back digit for digit.
func loadData(ctx context.Context, st engine.Storage, key string, n int) (map[string]any, error) {
	raw, err := st.Get(ctx, verKey(key, n))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		// The metadata says the version is live; its data must exist.
		return nil, fmt.Errorf("kv: could not find version data of %q version %d", key, n)
	}
	var doc versionDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("kv: decode version %d of %q: %w", n, key, err)
	}
	return decodeObject(doc.Data)
}

// decodeObject decodes a JSON object keeping numbers as json.Number.
func decodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	out := map[string]any{}
	if err := d.Decode(&out); err != nil {
		return nil, fmt.Errorf("kv: decode data: %w", err)
	}
	return out, nil
}

func saveData(ctx context.Context, st engine.Storage, key string, n int, data []byte) error {
	raw, err := json.Marshal(versionDoc{Data: data})
	if err != nil {
		return err
	}
	return st.Put(ctx, verKey(key, n), raw)
}
