package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/configarchive"
)

// entry is one tar entry of a test archive.
type entry struct {
	name string
	typ  byte
	mode int64
	body string
	link string
	size int64 // for TypeReg with no body: that many zero bytes
}

// archive builds a .tar.gz of entries.
func archive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
			if e.body == "" {
				h.Size = e.size
			}
		}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.typ != tar.TypeReg:
		case e.body != "":
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		case e.size > 0:
			if _, err := io.CopyN(tw, zeros{}, e.size); err != nil {
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

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// target is a fresh parent directory holding a canary file, and the
// directory to unpack into (not yet created).
func target(t testing.TB) (parent, dir string) {
	t.Helper()
	parent = t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "canary"), []byte("canary"), 0o600); err != nil {
		t.Fatal(err)
	}
	return parent, filepath.Join(parent, "src")
}

// onlyInside checks that parent holds nothing but the canary, untouched,
// and the unpack directory.
func onlyInside(t testing.TB, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"canary", "src"}) && !slices.Equal(names, []string{"canary"}) {
		t.Errorf("parent directory holds %v", names)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "canary")); err != nil || string(b) != "canary" {
		t.Errorf("canary = %q, %v", b, err)
	}
}

// tree lists dir's contents as "path mode" lines, "path -> target" for
// links.
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out = append(out, rel+" "+info.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnpack(t *testing.T) {
	parent, dir := target(t)
	a := archive(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "./main.tf", typ: tar.TypeReg, mode: 0o644, body: "resource \"terraform_data\" \"x\" {}\n"},
		entry{name: "modules/", typ: tar.TypeDir, mode: 0o777},
		entry{name: "modules/net/vpc.tf", typ: tar.TypeReg, mode: 0o666, body: "# vpc\n"}, // parent made implicitly
		entry{name: "scripts/run.sh", typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\n"},
		entry{name: "empty.txt", typ: tar.TypeReg, mode: 0o4755}, // setuid and executable: 0700 only
		entry{typ: tar.TypeXGlobalHeader},
	)
	if err := unpack(t.Context(), a, dir); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"empty.txt -rwx------",
		"main.tf -rw-------",
		"modules drwx------",
		"modules/net drwx------",
		"modules/net/vpc.tf -rw-------",
		"scripts drwx------",
		"scripts/run.sh -rwx------",
	}
	if got := tree(t, dir); !slices.Equal(got, want) {
		t.Errorf("unpacked:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("run directory: %v, %v", info.Mode(), err)
	}
	for name, body := range map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {}\n", "modules/net/vpc.tf": "# vpc\n", "empty.txt": ""} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != body {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
	onlyInside(t, parent)
}

func TestUnpackRefuses(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	good := archive(t, entry{name: "main.tf", typ: tar.TypeReg, body: strings.Repeat("# padding\n", 200)})
	for _, c := range []struct {
		name    string
		archive []byte
		errHas  string
	}{
		{"absolute path", archive(t, entry{name: "/etc/cron.d/x", typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"absolute directory", archive(t, entry{name: "/tmp/runcred-evil/", typ: tar.TypeDir}), "not a relative path"},
		{"double slash", archive(t, entry{name: "//x", typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"parent", archive(t, entry{name: "../x", typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"parent only", archive(t, entry{name: "..", typ: tar.TypeDir}), "not a relative path"},
		{"escape through a subdirectory", archive(t, entry{name: "a/../../x", typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"parent inside", archive(t, entry{name: "a/../b.tf", typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"dot slash parent", archive(t, entry{name: "./../x", typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"backslash", archive(t, entry{name: `..\x`, typ: tar.TypeReg, body: "x"}), "not a relative path"},
		{"empty name", archive(t, entry{name: "", typ: tar.TypeReg, body: "x"}), ""},
		{"symlink out", archive(t, entry{name: "out", typ: tar.TypeSymlink, link: "../"}), "to outside the configuration"},
		{"absolute symlink", archive(t, entry{name: "etc", typ: tar.TypeSymlink, link: "/etc"}), "to outside the configuration"},
		{"symlink out through a subdirectory", archive(t, entry{name: "a/b", typ: tar.TypeSymlink, link: "../../x"}), "to outside the configuration"},
		{"symlink then write through it", archive(t,
			entry{name: "d", typ: tar.TypeSymlink, link: ".."},
			entry{name: "d/canary", typ: tar.TypeReg, body: "overwritten"}), "to outside the configuration"},
		{"dangling symlink", archive(t, entry{name: "l", typ: tar.TypeSymlink, link: "missing.tf"}), "not in the configuration"},
		{"symlink cycle", archive(t, entry{name: "a", typ: tar.TypeSymlink, link: "b"}, entry{name: "b", typ: tar.TypeSymlink, link: "a"}), "cycle"},
		{"symlink to its own parent", archive(t, entry{name: "m/self", typ: tar.TypeSymlink, link: "."}), "inside its own target"},
		{"links inside each other's targets", archive(t, entry{name: "a/l", typ: tar.TypeSymlink, link: "../b"}, entry{name: "b/m", typ: tar.TypeSymlink, link: "../a"}), "cycle"},
		{"symlink to the root", archive(t, entry{name: "main.tf", typ: tar.TypeReg, body: "x"}, entry{name: "all", typ: tar.TypeSymlink, link: "."}), "inside its own target"},
		{"hard link", archive(t, entry{name: "main.tf", typ: tar.TypeReg, body: "x"}, entry{name: "h.tf", typ: tar.TypeLink, link: "main.tf"}), "is a hard link"},
		{"hard link out", archive(t, entry{name: "h", typ: tar.TypeLink, link: "../canary"}), "is a hard link"},
		{"character device", archive(t, entry{name: "null", typ: tar.TypeChar}), "not a file or directory"},
		{"block device", archive(t, entry{name: "sda", typ: tar.TypeBlock}), "not a file or directory"},
		{"fifo", archive(t, entry{name: "pipe", typ: tar.TypeFifo}), "not a file or directory"},
		{"file named dot", archive(t, entry{name: ".", typ: tar.TypeReg, body: "x"}), ""},
		{"duplicate file", archive(t, entry{name: "main.tf", typ: tar.TypeReg, body: "a"}, entry{name: "./main.tf", typ: tar.TypeReg, body: "b"}), "main.tf"},
		{"file under a file", archive(t, entry{name: "a", typ: tar.TypeReg, body: "a"}, entry{name: "a/b", typ: tar.TypeReg, body: "b"}), ""},
		{"not gzip", []byte("main.tf\x00\x00\x00 plain bytes"), "not gzip-compressed"},
		{"plain tar", func() []byte {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644})
			tw.Close()
			return b.Bytes()
		}(), "not gzip-compressed"},
		{"empty", nil, "not gzip-compressed"},
		{"gzip of not tar", gz(bytes.Repeat([]byte("not a tar header "), 64)), "not a valid tar"},
		{"truncated", good[:len(good)/2], ""},
		{"truncated file body", func() []byte {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4096})
			tw.Write([]byte("short"))
			return gz(b.Bytes()) // the tar stops 4091 bytes early
		}(), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent, dir := target(t)
			err := unpack(t.Context(), c.archive, dir)
			if err == nil {
				t.Fatalf("unpacked; files: %v", tree(t, dir))
			}
			if !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("error %q does not say %q", err, c.errHas)
			}
			onlyInside(t, parent)
			if got := tree(t, dir); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "L") }) {
				t.Errorf("a link was made: %v", got)
			}
		})
	}
}

func TestUnpackRefusesAnExistingDir(t *testing.T) {
	parent, dir := target(t)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unpack(t.Context(), archive(t, entry{name: "main.tf", typ: tar.TypeReg, body: "x"}), dir); err == nil {
		t.Fatal("unpacked into a directory that already existed")
	}
	onlyInside(t, parent)
}

func TestUnpackEntryLimit(t *testing.T) {
	many := func(n int) []byte {
		es := make([]entry, n)
		for i := range es {
			es[i] = entry{name: "./", typ: tar.TypeDir} // cheap to unpack: skipped, but counted
		}
		return archive(t, es...)
	}
	lim := configarchive.Default
	lim.Entries = 1000
	parent, dir := target(t)
	if _, err := unpackWith(t.Context(), many(lim.Entries), dir, lim); err != nil {
		t.Fatalf("%d entries: %v", lim.Entries, err)
	}
	parent, dir = target(t)
	_, err := unpackWith(t.Context(), many(lim.Entries+1), dir, lim)
	if err == nil || !strings.Contains(err.Error(), "more than 1000 entries") {
		t.Fatalf("%d entries: %v", lim.Entries+1, err)
	}
	onlyInside(t, parent)
}

func TestUnpackSizeLimit(t *testing.T) {
	lim := configarchive.Default
	lim.Bytes, lim.RatioFloor = 4<<20, 1<<40 // zeros: no ratio bound here
	maxUnpacked := lim.Bytes
	// Zeros compress about a thousandfold: a small archive, a large file.
	// rest.bin goes well past the limit, which the copy must not follow.
	a := archive(t, entry{name: "half.bin", typ: tar.TypeReg, size: maxUnpacked / 2}, entry{name: "rest.bin", typ: tar.TypeReg, size: maxUnpacked/2 + 1<<20})
	if len(a) > 64<<10 {
		t.Fatalf("archive is %d bytes", len(a))
	}
	parent, dir := target(t)
	_, err := unpackWith(t.Context(), a, dir, lim)
	if err == nil || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Fatalf("unpack of %d bytes: %v", maxUnpacked+1<<20, err)
	}
	onlyInside(t, parent)
	// It stopped at the limit: at most one byte past it was written.
	var total int64
	for _, n := range []string{"half.bin", "rest.bin"} {
		if info, err := os.Stat(filepath.Join(dir, n)); err == nil {
			total += info.Size()
		}
	}
	if total > maxUnpacked+1 {
		t.Errorf("%d bytes written", total)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	// Exactly the limit is fine, every byte of it.
	a = archive(t, entry{name: "half.bin", typ: tar.TypeReg, size: maxUnpacked / 2}, entry{name: "rest.bin", typ: tar.TypeReg, size: maxUnpacked / 2})
	if _, err := unpackWith(t.Context(), a, dir, lim); err != nil {
		t.Fatalf("unpack of exactly %d bytes: %v", maxUnpacked, err)
	}
	sizes(t, dir, map[string]int64{"half.bin": maxUnpacked / 2, "rest.bin": maxUnpacked / 2})
}

// sizes checks the sizes of files under dir.
func sizes(t *testing.T, dir string, want map[string]int64) {
	t.Helper()
	for n, size := range want {
		if info, err := os.Stat(filepath.Join(dir, n)); err != nil || info.Size() != size {
			t.Errorf("%s: %v, %v; want %d bytes", n, info, err, size)
		}
	}
}

// TestUnpackSizeLimitCountsLinkCopies: a link's copy counts against the
// limit like the file it copies, so links cannot multiply a configuration.
func TestUnpackSizeLimitCountsLinkCopies(t *testing.T) {
	lim := configarchive.Default
	lim.Bytes, lim.RatioFloor = 4<<20, 1<<40 // zeros: no ratio bound here
	maxUnpacked := lim.Bytes
	a := archive(t, entry{name: "big.bin", typ: tar.TypeReg, size: maxUnpacked/2 + 1}, entry{name: "copy.bin", typ: tar.TypeSymlink, link: "big.bin"})
	parent, dir := target(t)
	_, err := unpackWith(t.Context(), a, dir, lim)
	if err == nil || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Fatalf("unpack of %d bytes through a link: %v", maxUnpacked+2, err)
	}
	onlyInside(t, parent)
	if info, err := os.Stat(filepath.Join(dir, "copy.bin")); err == nil && info.Size() > maxUnpacked/2 {
		t.Errorf("the copy went past the limit: %d bytes", info.Size())
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	a = archive(t, entry{name: "big.bin", typ: tar.TypeReg, size: maxUnpacked / 2}, entry{name: "copy.bin", typ: tar.TypeSymlink, link: "big.bin"})
	if _, err := unpackWith(t.Context(), a, dir, lim); err != nil {
		t.Fatalf("unpack of exactly %d bytes through a link: %v", maxUnpacked, err)
	}
	sizes(t, dir, map[string]int64{"big.bin": maxUnpacked / 2, "copy.bin": maxUnpacked / 2})
}

// TestUnpackMaterializesSymlinks: links inside the configuration become
// copies of their targets, files and directories, through chains of links;
// no link is left in the run directory.
func TestUnpackMaterializesSymlinks(t *testing.T) {
	parent, dir := target(t)
	// env/dev comes first: its copy waits for the links inside env/prod.
	err := unpack(t.Context(), archive(t,
		entry{name: "env/dev", typ: tar.TypeSymlink, link: "prod"},
		entry{name: "modules/net/main.tf", typ: tar.TypeReg, body: "net", mode: 0o644},
		entry{name: "shared/vars.tf", typ: tar.TypeReg, body: "vars", mode: 0o644},
		entry{name: "env/prod/main.tf", typ: tar.TypeReg, body: "prod", mode: 0o644},
		entry{name: "env/prod/vars.tf", typ: tar.TypeSymlink, link: "../../shared/vars.tf"},
		entry{name: "env/prod/net", typ: tar.TypeSymlink, link: "../../modules/net"},
		entry{name: "links/only/vars.tf", typ: tar.TypeSymlink, link: "../../shared/vars.tf"}, // no other entry makes links/only
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"env/prod/vars.tf": "vars", "env/prod/net/main.tf": "net", "env/dev/vars.tf": "vars", "env/dev/net/main.tf": "net",
		"env/dev/main.tf": "prod", "links/only/vars.tf": "vars",
	} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if got := tree(t, dir); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "L") }) {
		t.Errorf("a link was made: %v", got)
	}
	onlyInside(t, parent)
}

// TestUnpackCancel: a cancel during unpacking stops it within 2 s, under
// any load, with ctx's error. The archive (directory links that copy each
// other, 2^14 copies of a 1 MiB file) would write for minutes otherwise;
// the test cancels once copies are being written.
func TestUnpackCancel(t *testing.T) {
	noise := make([]byte, 1<<20)
	rand.Read(noise)
	es := []entry{{name: "d0/f", typ: tar.TypeReg, body: string(noise)}}
	for i := 1; i <= 14; i++ {
		es = append(es, entry{name: fmt.Sprintf("d%d/a", i), typ: tar.TypeSymlink, link: fmt.Sprintf("../d%d", i-1)},
			entry{name: fmt.Sprintf("d%d/b", i), typ: tar.TypeSymlink, link: fmt.Sprintf("../d%d", i-1)})
	}
	lim := configarchive.Default
	lim.Bytes, lim.Entries = 64<<30, 1<<30
	_, dir := target(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := unpackWith(ctx, archive(t, es...), dir, lim)
		done <- err
	}()
	deadline := time.After(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "d1", "a", "f")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("unpack ended before it was canceled: %v", err)
		case <-deadline:
			t.Fatal("no copy was made within a minute")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("canceled unpack: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("unpack still running 2 s after the cancel")
	}
}

// TestUnpackLinkChain: the report's archive (3,000 chained links, which
// took the old unpacker about 90 s) is refused, Linux's own bound of 40
// links per path, after work counted in steps linear in its links.
func TestUnpackLinkChain(t *testing.T) {
	es := []entry{{name: "main.tf", typ: tar.TypeReg, body: "x"}}
	for i := range 3000 {
		prev := "main.tf"
		if i > 0 {
			prev = fmt.Sprintf("l%d", i-1)
		}
		es = append(es, entry{name: fmt.Sprintf("l%d", i), typ: tar.TypeSymlink, link: prev})
	}
	parent, dir := target(t)
	st, err := unpackWith(t.Context(), archive(t, es...), dir, configarchive.Default)
	if err == nil || !strings.Contains(err.Error(), "follows more than 40 links") {
		t.Fatalf("link chain: %v", err)
	}
	if st.Steps > 4*len(es) {
		t.Errorf("link chain took %d steps for %d entries", st.Steps, len(es))
	}
	onlyInside(t, parent)
}

func TestPhaseTimeout(t *testing.T) {
	for _, c := range []struct{ agent, ws, want time.Duration }{
		{2 * time.Hour, 0, 2 * time.Hour},
		{2 * time.Hour, 10 * time.Minute, 10 * time.Minute},
		{time.Hour, 3 * time.Hour, time.Hour}, // the agent's operator has the last word
	} {
		if got := phaseTimeout(c.agent, c.ws); got != c.want {
			t.Errorf("phaseTimeout(%s, %s) = %s, want %s", c.agent, c.ws, got, c.want)
		}
	}
}
