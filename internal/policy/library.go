package policy

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"maps"
	"slices"
)

//go:embed library
var library embed.FS

// LibraryID is the ID of the built-in library's set.
const LibraryID = "runcred-library"

// LibraryFiles are the built-in policy library's files, tests included, as
// Parse and RunTests take them.
func LibraryFiles() map[string][]byte {
	sub, err := fs.Sub(library, "library")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files, err := ReadFS(sub)
	if err != nil {
		panic(err)
	}
	return files
}

// Library is runcred's built-in policy library as one set, at its default
// levels (protected-variables hard-mandatory, allowed-assume-roles
// mandatory, no-credentials-in-state advisory), with params as its
// parameters. Its version is a digest of its files, so a new build's
// library is a new version.
func Library(params map[string]any) *Set {
	files := LibraryFiles()
	s, err := Parse(files)
	if err != nil {
		panic(err) // the library's own tests parse it
	}
	h := sha256.New()
	for _, n := range slices.Sorted(maps.Keys(files)) {
		h.Write([]byte(n + "\x00"))
		h.Write(files[n])
		h.Write([]byte{0})
	}
	s.ID = LibraryID
	s.Version = hex.EncodeToString(h.Sum(nil))[:16]
	s.Params = params
	return s
}
