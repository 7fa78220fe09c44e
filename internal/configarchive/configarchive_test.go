package configarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

type entry struct {
	name, link, body string
	typ              byte
	size             int64 // zeros, when body is empty
}

func reg(name, body string) entry   { return entry{name: name, body: body, typ: tar.TypeReg} }
func symlink(name, to string) entry { return entry{name: name, link: to, typ: tar.TypeSymlink} }

// build makes a gzip-compressed tar of es, then appends after (inside the
// gzip stream, after the tar's end).
func build(t testing.TB, after []byte, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body)) + e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
			for left := e.size; left > 0; {
				n := min(left, 1<<20)
				tw.Write(make([]byte, n))
				left -= n
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Write(after)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func read(t testing.TB, b []byte, lim Limits) (Stats, error) {
	t.Helper()
	return Read(context.Background(), b, lim, Discard{})
}

// chain is n links, each to the one before, the first to main.tf: the
// archive of the report (3,000 links, 27 KB) that took the old unpacker
// cubic time.
func chain(t testing.TB, n int) []byte {
	es := []entry{reg("main.tf", "x")}
	for i := 0; i < n; i++ {
		prev := "main.tf"
		if i > 0 {
			prev = fmt.Sprintf("l%d", i-1)
		}
		es = append(es, symlink(fmt.Sprintf("l%d", i), prev))
	}
	return build(t, nil, es...)
}

// TestSymlinkChain: the report's archive is refused (more than LinkDepth
// links to follow, as Linux itself refuses) after work linear in its
// size, counted in steps, not timed; in either order of its entries.
func TestSymlinkChain(t *testing.T) {
	a := chain(t, 3000)
	if len(a) > 64<<10 {
		t.Fatalf("archive is %d bytes", len(a))
	}
	st, err := read(t, a, Default)
	if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "follows more than 40 links") {
		t.Fatalf("3000-link chain: %v", err)
	}
	if st.Steps > 4*3001 {
		t.Errorf("3000-link chain took %d steps", st.Steps)
	}
	// Reversed: every link is resolved through those after it, each once.
	es := []entry{}
	for i := 2999; i >= 0; i-- {
		prev := "main.tf"
		if i > 0 {
			prev = fmt.Sprintf("l%d", i-1)
		}
		es = append(es, symlink(fmt.Sprintf("l%d", i), prev))
	}
	st, err = read(t, build(t, nil, append(es, reg("main.tf", "x"))...), Default)
	if err == nil || st.Steps > 4*3001 {
		t.Errorf("reversed chain: %v after %d steps", err, st.Steps)
	}
}

// TestLinksLinear: links that are all resolvable (chains of at most the
// depth limit, many of them) unpack in steps proportional to the links,
// where resolving each link afresh would take their square.
func TestLinksLinear(t *testing.T) {
	steps := func(n int) int {
		es := []entry{reg("main.tf", "x")}
		for i := 0; i < n; i++ {
			prev := "main.tf"
			if i%30 != 0 {
				prev = fmt.Sprintf("l%d", i-1)
			}
			es = append(es, symlink(fmt.Sprintf("l%d", i), prev))
		}
		st, err := read(t, build(t, nil, es...), Default)
		if err != nil || st.Entries != n || st.Bytes != int64(n)+1 {
			t.Fatalf("%d links: %v, %s", n, err, st)
		}
		return st.Steps
	}
	small, large := steps(1000), steps(8000)
	t.Logf("steps: 1,000 links %d, 8,000 links %d", small, large)
	if large > 10*small || large > 6*8000 {
		t.Errorf("1,000 links: %d steps; 8,000 links: %d steps; want linear", small, large)
	}
}

// TestLinkFanOut: directory links that copy each other grow exponentially;
// the entry limit stops them, after work bounded by it.
func TestLinkFanOut(t *testing.T) {
	es := []entry{reg("d0/f", "x")}
	for i := 1; i <= 30; i++ {
		es = append(es, symlink(fmt.Sprintf("d%d/a", i), fmt.Sprintf("../d%d", i-1)), symlink(fmt.Sprintf("d%d/b", i), fmt.Sprintf("../d%d", i-1)))
	}
	lim := Default
	st, err := read(t, build(t, nil, es...), lim)
	if err == nil || !strings.Contains(err.Error(), "more than 100000 entries") {
		t.Fatalf("fan-out: %v", err)
	}
	if st.Steps > 3*lim.Entries {
		t.Errorf("fan-out took %d steps", st.Steps)
	}
}

func TestRefusals(t *testing.T) {
	zeros := make([]byte, 4096)
	garbage := append(make([]byte, 100), 'x')
	for _, c := range []struct {
		name string
		b    []byte
		has  string
	}{
		{"data after the tar", build(t, garbage, reg("main.tf", "x")), "data after the tar's end"},
		{"much zero padding", build(t, make([]byte, 2<<20), reg("main.tf", "x")), "data after the tar's end"},
		{"zero bomb", build(t, nil, entry{name: "zeros.bin", typ: tar.TypeReg, size: 100 << 20}), "compression bomb"},
		{"zero bomb after the end", build(t, make([]byte, 100<<20), reg("main.tf", "x")), ""},
		{"cycle", build(t, nil, symlink("a", "b"), symlink("b", "a")), "cycle"},
		{"dangling", build(t, nil, symlink("a", "b")), "not in the configuration"},
		{"through a file", build(t, nil, reg("f", "x"), symlink("a", "f/x")), "goes through a file"},
		{"under a link", build(t, nil, reg("d/f", "x"), symlink("l", "d"), reg("l/g", "y")), "under a file or a link"},
		{"twice", build(t, nil, reg("f", "x"), symlink("f", "g")), "twice"},
		{"inside its own target", build(t, nil, reg("d/f", "x"), symlink("d/l", ".")), "inside its own target"},
		{"mutual", build(t, nil, symlink("a/l", "../b"), symlink("b/m", "../a")), "cycle"},
		{"long name", build(t, nil, reg(strings.Repeat("a/", 2100)+"f", "x")), "longer than"},
		{"a file named .//. (found by FuzzUnpackEntries: it recursed forever)", build(t, nil, reg(".//.", "x")), "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := read(t, c.b, Default)
			if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), c.has) {
				t.Fatalf("got %v, want invalid saying %q", err, c.has)
			}
		})
	}
	// A tar writer's record padding is fine, as is real content that
	// compresses within the ratio.
	if _, err := read(t, build(t, zeros, reg("main.tf", "x")), Default); err != nil {
		t.Errorf("zero padding: %v", err)
	}
	// 20 MiB of generated configuration, past the ratio's floor, is
	// accepted: source compresses far less than a hundredfold.
	var gen strings.Builder
	for i := 0; gen.Len() < 20<<20; i++ {
		fmt.Fprintf(&gen, "resource \"terraform_data\" \"r%d\" {\n  input = \"%x\"\n}\n", i, i*7919)
	}
	a := build(t, nil, reg("main.tf", gen.String()))
	if _, err := read(t, a, Default); err != nil {
		t.Errorf("20 MiB of generated configuration (%d:1): %v", gen.Len()/len(a), err)
	}
}

// TestCancel: a canceled read stops, with ctx's error, not a refusal.
func TestCancel(t *testing.T) {
	big := make([]byte, 8<<20)
	rand.Read(big)
	a := build(t, nil, entry{name: "big.bin", body: string(big), typ: tar.TypeReg})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, a, Default, Discard{}); err != context.Canceled {
		t.Fatalf("canceled read: %v", err)
	}
	if _, err := read(t, a, Default); err != nil {
		t.Fatalf("read: %v", err)
	}
}

// nameSink records what Read made.
type nameSink struct{ names []string }

func (s *nameSink) Dir(n string) error { s.names = append(s.names, n); return nil }
func (s *nameSink) File(n string, _ bool, r io.Reader) (int64, error) {
	s.names = append(s.names, n)
	return io.Copy(io.Discard, r)
}
func (s *nameSink) Copy(src, dst string, _ int64) error {
	s.names = append(s.names, src, dst)
	return nil
}

// FuzzRead: whatever the archive, Read ends within its limits, and every
// name it gives the sink is relative and inside the configuration.
func FuzzRead(f *testing.F) {
	f.Add(build(f, nil, reg("main.tf", "x"), symlink("l", "main.tf")))
	f.Add(build(f, nil, symlink("a/l", "../b"), symlink("b/m", "../a")))
	f.Add(build(f, []byte{0, 0, 1}, reg("d/f", "x"), symlink("e", "d")))
	lim := Default
	lim.Entries, lim.Bytes, lim.RatioFloor = 1000, 1<<20, 1<<20
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &nameSink{}
		st, err := Read(context.Background(), b, lim, s)
		if err != nil && !fail.Is(err, fail.Invalid) {
			t.Fatalf("error of kind %v: %v", fail.KindOf(err), err)
		}
		if st.Entries > lim.Entries+1 || st.Bytes > lim.Bytes+1 {
			t.Fatalf("past the limits: %s", st)
		}
		for _, n := range s.names {
			if !Local(n) || n == "." || strings.HasPrefix(path.Clean(n), "..") || path.Clean(n) != n {
				t.Fatalf("sink got %q", n)
			}
		}
	})
}
