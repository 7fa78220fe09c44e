package configarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// Read checks archive b against lim and gives its content to sink, links
// last, as copies. Every refusal is a fail.Invalid error; ctx's error is
// returned as it is, within one read buffer or one entry of a cancel.
func Read(ctx context.Context, b []byte, lim Limits, sink Sink) (Stats, error) {
	r := &reading{lim: lim, sink: sink, t: newTree()}
	err := r.read(ctx, b)
	if err == nil {
		err = r.t.expand(ctx, r)
	}
	return r.st, err
}

// reading is one Read in progress.
type reading struct {
	lim  Limits
	sink Sink
	t    *tree
	st   Stats
}

// stream counts the decompressed bytes and stops past max.
type stream struct {
	r        io.Reader
	n, max   int64
	exceeded bool
}

func (s *stream) Read(p []byte) (int, error) {
	if s.n > s.max {
		s.exceeded = true
		return 0, errRatio
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

var errRatio = errors.New("compression ratio")

func (r *reading) read(ctx context.Context, b []byte) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return fail.Invalidf("the configuration is not gzip-compressed")
	}
	limit := max(r.lim.RatioFloor, r.lim.Ratio*int64(len(b)))
	s := &stream{r: Reader(ctx, zr), max: limit}
	ratio := func(err error) error {
		if s.exceeded {
			return fail.Invalidf("the configuration decompresses to more than %d bytes from %d: over %d times its compressed size, a compression bomb rather than source code",
				limit, len(b), r.lim.Ratio)
		}
		return err
	}
	tr := tar.NewReader(s)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			return ratio(fail.Invalidf("the configuration is not a valid tar: %s", fail.Clip(err.Error())))
		}
		if n >= r.lim.Entries {
			return fail.Invalidf("the configuration has more than %d entries", r.lim.Entries)
		}
		if err := r.entry(tr, h); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return ratio(err)
		}
	}
	// The tar's end is two zero blocks; a writer may pad its last record
	// with more zeros. Anything else after it is refused, so what is stored
	// is exactly what was checked and what a run unpacks.
	pad, err := io.Copy(zeros{}, io.LimitReader(s, r.lim.Padding+1))
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errNotZero) || pad > r.lim.Padding:
		return fail.Invalidf("the configuration has data after the tar's end")
	case err != nil:
		return ratio(fail.Invalidf("the configuration is damaged: %s", fail.Clip(err.Error())))
	}
	return nil
}

// bodyReader keeps the error reading an entry's body gave, if any.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// zeros is a writer that accepts only zero bytes.
type zeros struct{}

var errNotZero = errors.New("not zero")

func (zeros) Write(p []byte) (int, error) {
	for i, c := range p {
		if c != 0 {
			return i, errNotZero
		}
	}
	return len(p), nil
}

// entry takes one tar entry into the tree and the sink.
func (r *reading) entry(tr *tar.Reader, h *tar.Header) error {
	if len(h.Name) > r.lim.NameLen || len(h.Linkname) > r.lim.NameLen {
		return fail.Invalidf("configuration entry %q has a name longer than %d bytes", fail.Clip(h.Name), r.lim.NameLen)
	}
	name := path.Clean(h.Name)
	if name == "." && h.Typeflag == tar.TypeDir {
		return nil
	}
	// Both: "a/../b" is refused although it cleans inside, and ".//." cleans
	// to ".", not to the "/" that trimming "./" first would make of it.
	if !Local(h.Name) || !Local(name) {
		return fail.Invalidf("configuration entry %q is not a relative path inside it", fail.Clip(h.Name))
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return r.t.addDir(r, name)
	case tar.TypeReg:
		if err := r.t.add(r, name, &node{kind: file}); err != nil {
			return err
		}
		left := r.lim.Bytes - r.st.Bytes
		body := &bodyReader{r: io.LimitReader(tr, left+1)}
		m, err := r.sink.File(name, h.Mode&0o100 != 0, body)
		switch {
		case body.err != nil && !errors.Is(body.err, context.Canceled) && !errors.Is(body.err, context.DeadlineExceeded):
			// The archive's fault, not the sink's.
			return fail.Invalidf("configuration entry %q is damaged: %s", fail.Clip(h.Name), fail.Clip(body.err.Error()))
		case err != nil:
			return err
		}
		r.t.nodes[name].size = m
		return r.count(0, m)
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeSymlink:
		if r.st.Links++; r.st.Links > r.lim.Links {
			return fail.Invalidf("the configuration has more than %d symlinks", r.lim.Links)
		}
		target := path.Clean(path.Join(path.Dir(name), h.Linkname))
		if strings.HasPrefix(h.Linkname, "/") || !Local(target) {
			return fail.Invalidf("configuration entry %q is a link to outside the configuration", fail.Clip(h.Name))
		}
		return r.t.add(r, name, &node{kind: link, target: target})
	case tar.TypeLink:
		return fail.Invalidf("configuration entry %q is a hard link; runcred runs take files, directories and symlinks", fail.Clip(h.Name))
	}
	return fail.Invalidf("configuration entry %q is not a file or directory", fail.Clip(h.Name))
}

// count adds entries and bytes made, refusing past the limits.
func (r *reading) count(entries int, bytes int64) error {
	r.st.Entries += entries
	r.st.Bytes += bytes
	switch {
	case r.st.Entries > r.lim.Entries:
		return fail.Invalidf("the configuration has more than %d entries, with the directories they imply and the copies its links make", r.lim.Entries)
	case r.st.Bytes > r.lim.Bytes:
		return fail.Invalidf("the configuration unpacks to more than %d bytes", r.lim.Bytes)
	}
	return nil
}

// Local reports whether p, an archive path, stays inside the root: not
// empty, not absolute, no ".." segment, no NUL or backslash.
func Local(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return false
		}
	}
	return true
}

// String is for errors of the tree.
func (s Stats) String() string {
	return fmt.Sprintf("%d entries, %d links, %d bytes, %d steps", s.Entries, s.Links, s.Bytes, s.Steps)
}
