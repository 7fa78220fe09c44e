package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// mount is one row of the mount table.
type mount struct {
	UUID        string
	Path        string // "aws/", "auth/jwt/"
	Type        string
	Accessor    string
	Description string
	Config      mountConfig
	Options     map[string]string
	CreatedAt   time.Time
	// RotatingTo is the new path while the mount is being rotated; writes
	// to the mount are refused meanwhile (see rotate.go).
	RotatingTo string
	// key names this mount's uuid, path and tuning; an engine instance is
	// cached under it, so a move or tune (seen on the next table load)
	// gets a fresh engine.
	key string
}

type mountConfig struct {
	DefaultLeaseTTL   int64    `json:"default_lease_ttl"` // seconds; 0 = system default
	MaxLeaseTTL       int64    `json:"max_lease_ttl"`
	ListingVisibility string   `json:"listing_visibility,omitempty"`
	AuditNonHMACReq   []string `json:"audit_non_hmac_request_keys,omitempty"`
	AuditNonHMACResp  []string `json:"audit_non_hmac_response_keys,omitempty"`
	TokenType         string   `json:"token_type,omitempty"`
}

func (m *mount) isAuth() bool { return strings.HasPrefix(m.Path, "auth/") }

// ttls returns the mount's effective default and maximum lease TTLs.
func (m *mount) ttls() (def, max time.Duration) {
	def, max = time.Duration(m.Config.DefaultLeaseTTL)*time.Second, time.Duration(m.Config.MaxLeaseTTL)*time.Second
	if max <= 0 {
		max = SystemMaxTTL
	}
	if def <= 0 || def > max {
		def = min(SystemMaxTTL, max)
	}
	return def, max
}

func (m *mount) engineConfig() engine.MountConfig {
	def, max := m.ttls()
	return engine.MountConfig{Path: m.Path, Type: m.Type, Options: m.Options, DefaultLeaseTTL: def, MaxLeaseTTL: max}
}

// Built-in mounts that always exist and cannot be changed.
var builtin = []*mount{
	{UUID: "sys", Path: "sys/", Type: "system", Accessor: "system_00000000", Description: "system endpoints used for control, policy and debugging"},
	{UUID: "token", Path: "auth/token/", Type: "token", Accessor: "auth_token_00000000", Description: "token based credentials"},
}

// reserved paths no mount may take or contain.
var reserved = []string{"sys/", "auth/token/", "cubbyhole/", "identity/", "auth/"}

// mountTable caches the mount rows; a node re-reads them every refresh so
// mounts made on other nodes appear, and at once after its own changes.
type mountTable struct {
	db      *store.DB
	now     func() time.Time
	refresh time.Duration

	mu     sync.Mutex
	loaded time.Time
	all    []*mount // longest path first
}

func (t *mountTable) list(ctx context.Context) ([]*mount, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.all != nil && t.now().Sub(t.loaded) < t.refresh {
		return t.all, nil
	}
	rows, err := t.db.Query(ctx, `SELECT uuid, path, type, accessor, description, config, options, created_at, rotating_to FROM broker_mounts`)
	if err != nil {
		return nil, fmt.Errorf("broker: load mounts: %w", err)
	}
	defer rows.Close()
	all := append([]*mount(nil), builtin...)
	for rows.Next() {
		m := &mount{}
		var conf, opts string
		var created int64
		if err := rows.Scan(&m.UUID, &m.Path, &m.Type, &m.Accessor, &m.Description, &conf, &opts, &created, &m.RotatingTo); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(conf), &m.Config); err != nil {
			return nil, fmt.Errorf("broker: mount %s config: %w", m.Path, err)
		}
		if err := json.Unmarshal([]byte(opts), &m.Options); err != nil {
			return nil, fmt.Errorf("broker: mount %s options: %w", m.Path, err)
		}
		m.CreatedAt = store.Time(created)
		m.key = m.UUID + "|" + m.Path + "|" + conf + "|" + opts
		all = append(all, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool {
		if len(all[i].Path) != len(all[j].Path) {
			return len(all[i].Path) > len(all[j].Path)
		}
		return all[i].Path < all[j].Path
	})
	t.all, t.loaded = all, t.now()
	return all, nil
}

func (t *mountTable) invalidate() {
	t.mu.Lock()
	t.all = nil
	t.mu.Unlock()
}

// route finds the mount serving path and the path relative to it.
func (t *mountTable) route(ctx context.Context, path string) (*mount, string, error) {
	all, err := t.list(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, m := range all {
		if rest, ok := strings.CutPrefix(path, m.Path); ok {
			return m, rest, nil
		}
		if path+"/" == m.Path {
			return m, "", nil
		}
	}
	return nil, "", nil
}

// byPath returns the mount at exactly path ("aws/", "auth/jwt/").
func (t *mountTable) byPath(ctx context.Context, path string) (*mount, error) {
	all, err := t.list(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		if m.Path == path {
			return m, nil
		}
	}
	return nil, nil
}

// normalizeMountPath checks a user-given mount path and gives it its
// trailing slash.
func normalizeMountPath(p string) (string, error) {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" {
		return "", fail.Invalidf("mount path cannot be empty")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fail.Invalidf("invalid mount path %q", p)
		}
	}
	if strings.ContainsAny(p, "*+{}") || len(p) > 256 {
		return "", fail.Invalidf("invalid mount path %q", p)
	}
	return p + "/", nil
}

// create adds a mount after checking it neither takes a reserved path nor
// nests inside or around another mount.
func (t *mountTable) create(ctx context.Context, m *mount) error {
	for _, r := range reserved {
		if m.Path == r || (strings.HasPrefix(m.Path, r) && r != "auth/") || (r == "auth/" && !m.isAuth() && strings.HasPrefix(m.Path, r)) {
			return fail.Invalidf("cannot mount at reserved path %q", m.Path)
		}
	}
	conf, _ := json.Marshal(m.Config)
	opts, _ := json.Marshal(m.Options)
	err := t.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "broker/mounts"); err != nil {
			return err
		}
		if err := clash(ctx, tx, m.Path); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO broker_mounts (uuid, path, type, accessor, description, config, options, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.UUID, m.Path, m.Type, m.Accessor, m.Description, string(conf), string(opts), store.Nanos(m.CreatedAt))
		return err
	})
	t.invalidate()
	return err
}

// update writes a mount's description, config and options.
func (t *mountTable) update(ctx context.Context, m *mount) error {
	conf, _ := json.Marshal(m.Config)
	opts, _ := json.Marshal(m.Options)
	_, err := t.db.Exec(ctx, `UPDATE broker_mounts SET description = ?, config = ?, options = ? WHERE uuid = ?`,
		m.Description, string(conf), string(opts), m.UUID)
	t.invalidate()
	return err
}

// remove deletes a mount and all its storage.
func (t *mountTable) remove(ctx context.Context, m *mount) error {
	err := t.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM broker_storage WHERE mount_uuid = ?`, m.UUID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM broker_mounts WHERE uuid = ?`, m.UUID)
		return err
	})
	t.invalidate()
	return err
}

// move gives a mount a new path; its storage is keyed by uuid and moves with it.
func (t *mountTable) move(ctx context.Context, m *mount, to string) error {
	err := t.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "broker/mounts"); err != nil {
			return err
		}
		if err := clash(ctx, tx, to); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE broker_mounts SET path = ? WHERE uuid = ?`, to, m.UUID)
		return err
	})
	t.invalidate()
	return err
}

// clash refuses a mount path that equals, contains or sits inside another.
func clash(ctx context.Context, tx *store.Tx, path string) error {
	rows, err := tx.Query(ctx, `SELECT path FROM broker_mounts`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		if strings.HasPrefix(path, p) || strings.HasPrefix(p, path) {
			return fail.Invalidf("path is already in use at %s", p)
		}
	}
	return rows.Err()
}

func newAccessor(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}
