package configversion

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"

	"github.com/runcred/runcred/internal/configarchive"
	"github.com/runcred/runcred/internal/fail"
)

type entry struct {
	name, link string
	typ        byte
	body       string
}

func makeArchive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestValidateArchive(t *testing.T) {
	good := makeArchive(t, entry{name: "main.tf", typ: tar.TypeReg, body: `resource "null_resource" "x" {}`},
		entry{name: "mod/", typ: tar.TypeDir}, entry{name: "mod/a.tf", typ: tar.TypeReg},
		entry{name: "mod/link.tf", link: "../main.tf", typ: tar.TypeSymlink})
	if err := ValidateArchive(good); err != nil {
		t.Fatalf("good archive refused: %v", err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"not gzip":         {[]byte("PK\x03\x04 zip"), "not gzip"},
		"gzip, not tar":    {gz(t, "hello, this is not a tar archive at all"), "not a valid tar"},
		"absolute path":    {makeArchive(t, entry{name: "/etc/passwd", typ: tar.TypeReg}), "not a relative path"},
		"dot-dot":          {makeArchive(t, entry{name: "a/../../x", typ: tar.TypeReg}), "not a relative path"},
		"leading dot-dot":  {makeArchive(t, entry{name: "../x.tf", typ: tar.TypeReg}), "not a relative path"},
		"backslash":        {makeArchive(t, entry{name: `..\x.tf`, typ: tar.TypeReg}), "not a relative path"},
		"symlink absolute": {makeArchive(t, entry{name: "l", link: "/etc", typ: tar.TypeSymlink}), "to outside the configuration"},
		"symlink escaping": {makeArchive(t, entry{name: "a/l", link: "../../etc", typ: tar.TypeSymlink}), "to outside the configuration"},
		"hard link":        {makeArchive(t, entry{name: "h", link: "main.tf", typ: tar.TypeLink}), "is a hard link"},
		"device":           {makeArchive(t, entry{name: "d", typ: tar.TypeChar}), "not a file or directory"},
		"truncated":        {good[:len(good)/2], "configuration"},
		"too large":        {make([]byte, MaxArchiveSize+1), "larger than"},
		"link to the root": {makeArchive(t, entry{name: "here", link: ".", typ: tar.TypeSymlink}), "inside its own target"},
		"link chain":       {linkChain(t, 3000), "follows more than 40 links"},
		"data after the end": {func() []byte {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			tw.WriteHeader(&tar.Header{Name: "main.tf", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
			tw.Write([]byte("x"))
			tw.Close()
			zw.Write([]byte("hidden after the tar"))
			zw.Close()
			return buf.Bytes()
		}(), "data after the tar's end"},
		"zero bomb": {zeroBomb(t), "compression bomb"},
	} {
		err := ValidateArchive(tc.b)
		if !fail.Is(err, fail.Invalid) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%s: err = %v, want invalid with %q", name, err, tc.want)
		}
	}
}

// linkChain is n links, each to the one before, the first to main.tf.
func linkChain(t testing.TB, n int) []byte {
	es := []entry{{name: "main.tf", typ: tar.TypeReg, body: "x"}}
	for i := range n {
		prev := "main.tf"
		if i > 0 {
			prev = fmt.Sprintf("l%d", i-1)
		}
		es = append(es, entry{name: fmt.Sprintf("l%d", i), link: prev, typ: tar.TypeSymlink})
	}
	return makeArchive(t, es...)
}

// zeroBomb is 100 MiB of zeros, about 100 KB compressed.
func zeroBomb(t testing.TB) []byte {
	return makeArchive(t, entry{name: "zeros.bin", typ: tar.TypeReg, body: string(make([]byte, 100<<20))})
}

func gz(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return buf.Bytes()
}

// FuzzValidateArchive: any upload is accepted or refused as invalid, never
// a panic; and an accepted archive has only safe entries.
func FuzzValidateArchive(f *testing.F) {
	f.Add(makeArchive(f, entry{name: "main.tf", typ: tar.TypeReg, body: "x"}))
	f.Add(makeArchive(f, entry{name: "a/l", link: "../../etc", typ: tar.TypeSymlink}))
	f.Add(makeArchive(f, entry{name: "../x", typ: tar.TypeReg}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ValidateArchive(b)
		if err != nil && !fail.Is(err, fail.Invalid) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err != nil {
			return
		}
		zr, _ := gzip.NewReader(bytes.NewReader(b))
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if !configarchive.Local(h.Name) {
				t.Fatalf("accepted unsafe entry %q", h.Name)
			}
		}
	})
}
