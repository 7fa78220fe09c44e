package configversion

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// Archive limits: a configuration is source code, not data.
const (
	MaxArchiveSize    = 100 << 20 // compressed, as uploaded
	maxUnpackedSize   = 512 << 20 // guards against gzip bombs
	maxArchiveEntries = 100_000
)

// ValidateArchive checks that b is a gzip-compressed tar whose entries all
// unpack inside the directory they are unpacked into: relative, clean of
// "..", regular files, directories or symlinks whose target stays inside.
// The agent unpacks configurations that anyone who may create a
// configuration version uploaded, so this is checked before it is stored.
func ValidateArchive(b []byte) error {
	if len(b) > MaxArchiveSize {
		return fail.Invalidf("configuration archive is larger than %d bytes", MaxArchiveSize)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return fail.Invalidf("configuration archive is not gzip-compressed")
	}
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail.Invalidf("configuration archive is not a valid tar: %s", fail.Clip(err.Error()))
		}
		if n >= maxArchiveEntries {
			return fail.Invalidf("configuration archive has more than %d entries", maxArchiveEntries)
		}
		if err := validEntry(h); err != nil {
			return err
		}
		// Read the content, so a truncated or oversized archive is caught now.
		m, err := io.Copy(io.Discard, io.LimitReader(tr, maxUnpackedSize-total+1))
		if err != nil {
			return fail.Invalidf("configuration archive is damaged: %s", fail.Clip(err.Error()))
		}
		if total += m; total > maxUnpackedSize {
			return fail.Invalidf("configuration archive unpacks to more than %d bytes", maxUnpackedSize)
		}
	}
	// Trailing garbage after the tar would be ignored by the agent; refuse it
	// so what is stored is exactly what was checked.
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, 1<<20)); err != nil {
		return fail.Invalidf("configuration archive is damaged: %s", fail.Clip(err.Error()))
	}
	return nil
}

func validEntry(h *tar.Header) error {
	name := h.Name
	if !safeRelative(name) {
		return fail.Invalidf("configuration archive entry %q is not a relative path inside the archive", fail.Clip(name))
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader:
		return nil
	case tar.TypeSymlink:
		// A link resolves from the directory holding it.
		target := h.Linkname
		if strings.HasPrefix(target, "/") || !safeRelative(path.Join(path.Dir(strings.TrimSuffix(name, "/")), target)) {
			return fail.Invalidf("configuration archive symlink %q points outside the archive", fail.Clip(name))
		}
		return nil
	}
	return fail.Invalidf("configuration archive entry %q is not a file, directory or symlink", fail.Clip(name))
}

// safeRelative reports whether p, as an archive path, stays inside the root.
func safeRelative(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") || len(p) > 4096 {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return false
		}
	}
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}
