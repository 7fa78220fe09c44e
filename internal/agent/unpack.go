package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Limits on an unpacked configuration, as the server's (platform.ValidateArchive).
const (
	maxUnpacked = 512 << 20
	maxEntries  = 100_000
)

// unpack extracts a configuration archive into dir, which it creates. It
// writes only through an os.Root, so no entry, however named, lands outside
// dir; files are 0600 (0700 if executable), directories 0700. Symlinks are
// refused: a run directory holds the configuration's own files only.
func unpack(archive []byte, dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return errors.New("the configuration is not gzip-compressed")
	}
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the configuration is not a valid tar: %w", err)
		}
		if n >= maxEntries {
			return fmt.Errorf("the configuration has more than %d entries", maxEntries)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." && h.Typeflag == tar.TypeDir {
			continue
		}
		if !localName(name) {
			return fmt.Errorf("configuration entry %q is not a relative path inside it", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if d := path.Dir(name); d != "." {
				if err := root.MkdirAll(d, 0o700); err != nil {
					return err
				}
			}
			mode := os.FileMode(0o600)
			if h.Mode&0o100 != 0 {
				mode = 0o700
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return fmt.Errorf("configuration entry %q: %w", h.Name, err)
			}
			m, err := io.Copy(f, io.LimitReader(tr, maxUnpacked-total+1))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if total += m; total > maxUnpacked {
				return fmt.Errorf("the configuration unpacks to more than %d bytes", maxUnpacked)
			}
		case tar.TypeXGlobalHeader:
		case tar.TypeSymlink, tar.TypeLink:
			return fmt.Errorf("configuration entry %q is a link; runcred runs take regular files and directories only", h.Name)
		default:
			return fmt.Errorf("configuration entry %q is not a file or directory", h.Name)
		}
	}
}

func localName(p string) bool {
	return p != "" && p != ".." && !strings.HasPrefix(p, "../") && !strings.HasPrefix(p, "/") &&
		!strings.ContainsAny(p, "\x00\\")
}
