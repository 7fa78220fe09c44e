package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Limits on an unpacked configuration, as the server's (configversion.ValidateArchive).
const (
	maxUnpacked = 512 << 20
	maxEntries  = 100_000
)

// unpack extracts a configuration archive into dir, which it creates. It
// writes only through an os.Root, so no entry, however named, lands outside
// dir; files are 0600 (0700 if executable), directories 0700. A symlink
// whose target lies inside the configuration becomes a copy of that target
// (materialize): the run directory then holds no link at all, so nothing
// the run reads can lead outside it. Links pointing outside, and hard
// links, are refused.
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
	var links []link
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return materialize(root, links, &total)
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
		case tar.TypeSymlink:
			target := path.Clean(path.Join(path.Dir(name), h.Linkname))
			if strings.HasPrefix(h.Linkname, "/") || !localName(target) {
				return fmt.Errorf("configuration entry %q is a link to outside the configuration", h.Name)
			}
			links = append(links, link{name: name, target: target})
		case tar.TypeLink:
			return fmt.Errorf("configuration entry %q is a hard link; runcred runs take files, directories and symlinks", h.Name)
		default:
			return fmt.Errorf("configuration entry %q is not a file or directory", h.Name)
		}
	}
}

func localName(p string) bool {
	return p != "" && p != ".." && !strings.HasPrefix(p, "../") && !strings.HasPrefix(p, "/") &&
		!strings.ContainsAny(p, "\x00\\")
}

// link is a symlink of the archive: name's content is target's, both
// relative to the configuration's root.
type link struct{ name, target string }

// materialize makes each link a copy of its target, following links to
// links; a cycle, a dangling link or a target that is itself inside a
// link's path is refused. The copies count against maxUnpacked.
func materialize(root *os.Root, links []link, total *int64) error {
	pending := links
	for len(pending) > 0 {
		var next []link
		for _, l := range pending {
			if waitsOn(l, pending) {
				next = append(next, l)
				continue
			}
			if err := copyIn(root, l.target, l.name, total); err != nil {
				return fmt.Errorf("configuration link %q to %q: %w", l.name, l.target, err)
			}
		}
		if len(next) == len(pending) {
			return fmt.Errorf("configuration links %q and others form a cycle", next[0].name)
		}
		pending = next
	}
	return nil
}

// waitsOn reports whether l's target is, lies under, or holds another
// link not yet made: a directory's copy must hold the links inside it, made.
func waitsOn(l link, pending []link) bool {
	p := l.target
	for _, o := range pending {
		if o != l && (p == o.name || strings.HasPrefix(p, o.name+"/") || strings.HasPrefix(o.name, p+"/")) {
			return true
		}
	}
	return false
}

// copyIn copies src (a file or a directory tree) to dst inside root.
func copyIn(root *os.Root, src, dst string, total *int64) error {
	if src == "." || dst == src || strings.HasPrefix(dst, src+"/") {
		return errors.New("a link inside its own target")
	}
	fi, err := root.Lstat(src)
	if err != nil {
		return errors.New("its target is not in the configuration")
	}
	if fi.IsDir() {
		if err := root.MkdirAll(dst, 0o700); err != nil {
			return err
		}
		ents, err := fs.ReadDir(root.FS(), src)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := copyIn(root, src+"/"+e.Name(), dst+"/"+e.Name(), total); err != nil {
				return err
			}
		}
		return nil
	}
	if !fi.Mode().IsRegular() {
		return errors.New("its target is not a file or directory")
	}
	if d := path.Dir(dst); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	in, err := root.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	m, err := io.Copy(out, io.LimitReader(in, maxUnpacked-*total+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if *total += m; *total > maxUnpacked {
		return fmt.Errorf("the configuration unpacks to more than %d bytes", maxUnpacked)
	}
	return nil
}
