package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store"
)

// device is a file audit device (Vault's sys/audit type "file"). runcred's
// hash-chained log is always on and is the one that fails requests closed;
// file devices are extra copies for log shipping.
type device struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
}

type deviceSet struct {
	dir     string // the only directory file devices may write in; "" allows none
	db      *store.DB
	now     func() time.Time
	refresh time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	loaded time.Time
	all    []device
	files  map[string]io.WriteCloser // by file_path
}

func (d *deviceSet) load(ctx context.Context) ([]device, error) {
	if d.all != nil && d.now().Sub(d.loaded) < d.refresh {
		return d.all, nil
	}
	rows, err := d.db.Query(ctx, `SELECT path, type, description, options FROM broker_audit_devices ORDER BY path`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	all := []device{}
	for rows.Next() {
		var dv device
		var opts string
		if err := rows.Scan(&dv.Path, &dv.Type, &dv.Description, &opts); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(opts), &dv.Options)
		all = append(all, dv)
	}
	d.all, d.loaded = all, d.now()
	return all, rows.Err()
}

func (d *deviceSet) list(ctx context.Context) ([]device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.load(ctx)
}

// write appends rec to every file device; a failing device is logged.
func (d *deviceSet) write(ctx context.Context, rec *auditRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	all, err := d.load(ctx)
	if err != nil || len(all) == 0 {
		return
	}
	line := auditRecordJSON(d.now(), rec)
	for _, dv := range all {
		fp := dv.Options["file_path"]
		w, err := d.open(fp, dv.Options["mode"])
		if err == nil {
			_, err = w.Write(line)
		}
		if err != nil {
			d.log.Warn("audit device write failed", "device", dv.Path, "err", err)
		}
	}
}

func (d *deviceSet) open(fp, mode string) (io.WriteCloser, error) {
	if w, ok := d.files[fp]; ok {
		return w, nil
	}
	var w io.WriteCloser
	switch fp {
	case "stdout":
		w = nopCloser{os.Stdout}
	case "discard":
		w = nopCloser{io.Discard}
	default:
		perm := os.FileMode(0o600)
		if mode != "" {
			m, err := strconv.ParseUint(mode, 8, 32)
			if err != nil {
				return nil, err
			}
			perm = os.FileMode(m)
		}
		// O_NOFOLLOW: a symlink planted in the audit directory cannot
		// redirect the log onto another file.
		f, err := os.OpenFile(fp, os.O_APPEND|os.O_CREATE|os.O_WRONLY|syscall.O_NOFOLLOW, perm)
		if err != nil {
			return nil, err
		}
		w = f
	}
	if d.files == nil {
		d.files = map[string]io.WriteCloser{}
	}
	d.files[fp] = w
	return w, nil
}

// checkPath confines file devices to the server's audit directory (a sudo
// holder must not be able to append to the database, the root key or a
// system file: CVE-2025-6000).
func (d *deviceSet) checkPath(fp string) error {
	switch {
	case fp == "":
		return fail.Invalidf("file_path is required")
	case fp == "stdout" || fp == "discard":
		return nil
	case !filepath.IsAbs(fp):
		return fail.Invalidf("file_path must be an absolute path, \"stdout\" or \"discard\"")
	case d.dir == "":
		return fail.Invalidf("file audit devices are disabled: start the server with --audit-dir to allow them")
	}
	rel, err := filepath.Rel(d.dir, filepath.Clean(fp))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || strings.Contains(rel, "/") {
		return fail.Invalidf("file_path must be a file directly in the audit directory %s", d.dir)
	}
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (d *deviceSet) enable(ctx context.Context, dv device) error {
	if dv.Type != "file" {
		return fail.Invalidf("audit device type %q is not supported by runcred (only \"file\")", dv.Type)
	}
	fp := dv.Options["file_path"]
	if err := d.checkPath(fp); err != nil {
		return err
	}
	if m := dv.Options["mode"]; m != "" {
		if v, err := strconv.ParseUint(m, 8, 32); err != nil || v&^0o666 != 0 {
			return fail.Invalidf("invalid mode %q: at most 0666, never executable", m)
		}
	}
	for k := range dv.Options {
		switch k {
		case "file_path", "mode", "format", "hmac_accessor", "log_raw", "elide_list_responses":
		default:
			return fail.Invalidf("audit device option %q is not supported", k)
		}
	}
	if dv.Options["log_raw"] == "true" {
		return fail.Invalidf("log_raw is not supported: runcred never writes secrets to audit devices")
	}
	// Open now, so a path that cannot be written is refused at enable time.
	d.mu.Lock()
	_, err := d.open(fp, dv.Options["mode"])
	d.mu.Unlock()
	if err != nil {
		return fail.Invalidf("cannot open audit file: %v", err)
	}
	opts, _ := json.Marshal(dv.Options)
	_, err = d.db.Exec(ctx, `INSERT INTO broker_audit_devices (path, type, description, options, created_at) VALUES (?, ?, ?, ?, ?)`,
		dv.Path, dv.Type, dv.Description, string(opts), store.Nanos(d.now()))
	if store.IsConflict(err) {
		return fail.Invalidf("path already in use")
	}
	d.invalidate()
	return err
}

func (d *deviceSet) disable(ctx context.Context, path string) error {
	_, err := d.db.Exec(ctx, `DELETE FROM broker_audit_devices WHERE path = ?`, path)
	d.invalidate()
	d.mu.Lock()
	defer d.mu.Unlock()
	all, lerr := d.load(ctx)
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	for fp, w := range d.files { // close files no device writes to any more
		if !slices.ContainsFunc(all, func(dv device) bool { return dv.Options["file_path"] == fp }) {
			w.Close()
			delete(d.files, fp)
		}
	}
	return err
}

func (d *deviceSet) invalidate() {
	d.mu.Lock()
	d.all = nil
	d.mu.Unlock()
}

// Close closes the open device files.
func (d *deviceSet) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for fp, w := range d.files {
		if err := w.Close(); err != nil && first == nil {
			first = fmt.Errorf("close %s: %w", fp, err)
		}
	}
	d.files = nil
	return first
}
