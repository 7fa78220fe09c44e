// Package configarchive reads a configuration archive (a gzip-compressed
// tar) under runcred's limits. The server checks an upload with it before
// storing it, and the agent unpacks with it, so both refuse the same
// archives for the same reasons.
//
// Symlinks are not made: each becomes a copy of what it points to
// (Sink.Copy), so the unpacked configuration holds no link that could lead
// out of it. Links are resolved once each and remembered, so the work is
// linear in the archive's size and link count; what the copies add counts
// against the same limits as the archive's own entries and bytes.
package configarchive

import (
	"context"
	"io"
)

// Limits bound what one archive may hold and unpack to.
type Limits struct {
	Entries   int   // entries, the directories they imply and the links' copies
	Bytes     int64 // bytes of file content, the links' copies included
	Links     int   // symlinks
	LinkDepth int   // links followed to resolve one path, and links nested in a link's copy
	// Ratio bounds the decompressed stream to Ratio bytes per compressed
	// byte, once it is past RatioFloor: source code compresses about tenfold,
	// zeros a thousandfold (100 MiB of them are 102 KB of gzip).
	Ratio      int64
	RatioFloor int64
	Padding    int64 // zero bytes allowed after the tar's end (a tar writer's record padding)
	NameLen    int   // bytes in an entry's name or a link's target
}

// Default are the limits of every runcred configuration. A configuration is
// source code, not data.
var Default = Limits{
	Entries:    100_000,
	Bytes:      512 << 20,
	Links:      10_000,
	LinkDepth:  40, // Linux's own bound on links followed in one path (ELOOP)
	Ratio:      100,
	RatioFloor: 8 << 20,
	Padding:    1 << 20,
	NameLen:    4096,
}

// Sink receives what unpacking makes, in order; names are clean, relative
// and inside the configuration, and a directory is made before anything in
// it. The agent writes to disk; the server's check discards.
type Sink interface {
	Dir(name string) error
	// File writes a regular file of the archive from r, returning how much
	// it read; exec says the archive marks it executable.
	File(name string, exec bool, r io.Reader) (int64, error)
	// Copy makes dst a copy of src, a regular file File has written, of
	// size bytes.
	Copy(src, dst string, size int64) error
}

// Stats are what Read did.
type Stats struct {
	Entries int   // entries made, copies included
	Links   int   // symlinks in the archive
	Bytes   int64 // bytes of file content, copies included
	// Steps counts the unit steps of link resolution and copying: a test
	// holds it linear in the archive's entries, without a clock.
	Steps int
}

// Discard is a Sink that writes nothing: the server's check.
type Discard struct{}

func (Discard) Dir(string) error { return nil }
func (Discard) File(_ string, _ bool, r io.Reader) (int64, error) {
	return io.Copy(io.Discard, r)
}
func (Discard) Copy(string, string, int64) error { return nil }

// ctxReader fails a read once ctx is done, so a large file stops within
// one buffer of a cancel.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Reader is r, failing its reads once ctx is done.
func Reader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }
