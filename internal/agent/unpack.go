package agent

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/runcred/runcred/internal/configarchive"
)

// unpack extracts a configuration archive into dir, which it creates,
// under the limits the server checked it against (configarchive.Default).
func unpack(ctx context.Context, archive []byte, dir string) error {
	_, err := unpackWith(ctx, archive, dir, configarchive.Default)
	return err
}

// unpackWith extracts archive into dir under lim. It writes only through
// an os.Root, so no entry, however named, lands outside dir; files are
// 0600 (0700 if executable), directories 0700. A symlink becomes a copy of
// its target (see configarchive): the run directory then holds no link at
// all, so nothing the run reads can lead outside it. It stops within one
// read buffer or one entry once ctx is done.
func unpackWith(ctx context.Context, archive []byte, dir string, lim configarchive.Limits) (configarchive.Stats, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return configarchive.Stats{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return configarchive.Stats{}, err
	}
	defer root.Close()
	return configarchive.Read(ctx, archive, lim, rootSink{ctx, root})
}

// rootSink writes a configuration into an os.Root.
type rootSink struct {
	ctx  context.Context
	root *os.Root
}

func (s rootSink) Dir(name string) error { return s.root.Mkdir(name, 0o700) }

func (s rootSink) File(name string, exec bool, r io.Reader) (int64, error) {
	mode := os.FileMode(0o600)
	if exec {
		mode = 0o700
	}
	return s.write(name, mode, r)
}

func (s rootSink) Copy(src, dst string, size int64) error {
	in, err := s.root.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	_, err = s.write(dst, fi.Mode().Perm(), io.LimitReader(in, size))
	return err
}

func (s rootSink) write(name string, mode os.FileMode, r io.Reader) (int64, error) {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return 0, fmt.Errorf("configuration entry %q: %w", name, err)
	}
	n, err := io.Copy(f, configarchive.Reader(s.ctx, r))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
