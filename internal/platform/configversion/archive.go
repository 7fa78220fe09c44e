package configversion

import (
	"context"

	"github.com/runcred/runcred/internal/configarchive"
	"github.com/runcred/runcred/internal/fail"
)

// MaxArchiveSize bounds an upload, compressed. What it may unpack to is
// bounded by configarchive.Default, which the agent unpacks under too.
const MaxArchiveSize = 100 << 20

// ValidateArchive checks that b is a configuration archive the agent will
// unpack: a gzip-compressed tar of relative, clean paths (files,
// directories, symlinks that resolve inside it), nothing but zero padding
// after the tar's end, and within configarchive.Default (entries, bytes,
// links and their depth, compression ratio). The agent unpacks what anyone
// who may create a configuration version uploaded, so this is checked
// before it is stored.
func ValidateArchive(b []byte) error {
	if len(b) > MaxArchiveSize {
		return fail.Invalidf("configuration archive is larger than %d bytes", MaxArchiveSize)
	}
	_, err := configarchive.Read(context.Background(), b, configarchive.Default, configarchive.Discard{})
	return err
}
