package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/secret"
)

// unpackChecked unpacks a into a fresh directory beside a canary directory
// and checks that nothing outside it was touched and, when it succeeded,
// that it holds only private regular files and directories. names are the
// archive's entry names, if known, to look for escapes elsewhere.
func unpackChecked(t *testing.T, a []byte, names ...string) {
	parent := t.TempDir()
	canary := filepath.Join(parent, "canary")
	if err := os.Mkdir(canary, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(canary, "file"), []byte("canary"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "src")
	// Anything an entry could name outside dir that exists before is left
	// alone; anything that does not must not exist after.
	var outside []string
	for _, n := range names {
		for _, p := range []string{n, filepath.Join(dir, n)} {
			if !filepath.IsAbs(p) || strings.HasPrefix(p, dir+string(filepath.Separator)) || p == dir {
				continue
			}
			if _, err := os.Lstat(p); err != nil {
				outside = append(outside, p)
			}
		}
	}

	err := unpack(t.Context(), a, dir)

	ents, rerr := os.ReadDir(parent)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, e := range ents {
		if e.Name() != "canary" && e.Name() != "src" {
			t.Fatalf("unpack made %s beside the run directory", e.Name())
		}
	}
	if ents, _ := os.ReadDir(canary); len(ents) != 1 {
		t.Fatalf("canary directory holds %d entries", len(ents))
	}
	if b, err := os.ReadFile(filepath.Join(canary, "file")); err != nil || string(b) != "canary" {
		t.Fatalf("canary = %q, %v", b, err)
	}
	for _, p := range outside {
		if _, err := os.Lstat(p); err == nil {
			os.RemoveAll(p)
			t.Fatalf("unpack made %s outside the run directory", p)
		}
	}
	if err != nil {
		return
	}
	werr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch m := info.Mode(); {
		case m.IsDir():
			if m.Perm() != 0o700 {
				t.Errorf("directory %s is %v", p, m)
			}
		case m.IsRegular():
			if m.Perm() != 0o600 && m.Perm() != 0o700 {
				t.Errorf("file %s is %v", p, m)
			}
		default:
			t.Errorf("%s is %v", p, m)
		}
		return nil
	})
	if werr != nil {
		t.Fatal(werr)
	}
}

// FuzzUnpack: arbitrary bytes as a configuration archive never panic and
// never write outside the run directory.
func FuzzUnpack(f *testing.F) {
	f.Add(archive(f, entry{name: "main.tf", typ: tar.TypeReg, body: "x"}))
	f.Add(archive(f, entry{name: "../x", typ: tar.TypeReg, body: "x"}))
	f.Add(archive(f, entry{name: "l", typ: tar.TypeSymlink, link: "../canary"}, entry{name: "l/file", typ: tar.TypeReg, body: "x"}))
	f.Add(archive(f, entry{name: "d/", typ: tar.TypeDir}, entry{name: "d/e/f.tf", typ: tar.TypeReg, mode: 0o755, body: "x"}))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, a []byte) {
		names := []string{"x", "../x", "../canary/x", "/x"}
		// Read the entry names the archive holds, when it is one.
		if zr, err := gzip.NewReader(bytes.NewReader(a)); err == nil {
			tr := tar.NewReader(io.LimitReader(zr, 1<<20))
			for range 16 {
				h, err := tr.Next()
				if err != nil {
					break
				}
				names = append(names, h.Name)
			}
		}
		unpackChecked(t, a, names...)
	})
}

// entryTypes are the tar types FuzzUnpackEntries chooses from; a fuzzed
// byte past them is used as a type as is.
var entryTypes = []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock,
	tar.TypeFifo, tar.TypeXGlobalHeader, tar.TypeGNUSparse, tar.TypeCont, tar.TypeRegA}

// FuzzUnpackEntries: archives well formed but of any entry names, types,
// modes and link targets never panic and never write outside the run
// directory.
func FuzzUnpackEntries(f *testing.F) {
	f.Add("main.tf", "sub/x.tf", "", byte(0), byte(0), int64(0o644), "", []byte("x"))
	f.Add("../x", "/tmp/x", "", byte(0), byte(1), int64(0o755), "", []byte("x"))
	f.Add("l", "l/x", "", byte(2), byte(0), int64(0o644), "..", []byte("x"))
	f.Add("l", "l/x", "", byte(3), byte(0), int64(0o644), "../canary/file", []byte("x"))
	f.Add("./a/../b", "a/./b/", "b", byte(1), byte(1), int64(0o7777), "", []byte{})
	f.Add(".", "..", "./", byte(0), byte(1), int64(0o644), "", []byte("x"))
	f.Add("a\\..\\b", "a\x00b", "c", byte(0), byte(4), int64(0o644), "/dev/null", []byte("x"))
	f.Fuzz(func(t *testing.T, n1, n2, n3 string, t1, t2 byte, mode int64, link string, body []byte) {
		typ := func(b byte) byte {
			if int(b) < len(entryTypes) {
				return entryTypes[b]
			}
			return b
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, e := range []struct {
			name string
			typ  byte
		}{{n1, typ(t1)}, {n2, typ(t2)}, {n3, tar.TypeReg}} {
			h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: mode, Linkname: link}
			if e.typ == tar.TypeReg || e.typ == tar.TypeRegA {
				h.Size = int64(len(body))
			}
			if tw.WriteHeader(h) != nil {
				return // not a header the tar package writes
			}
			if h.Size > 0 {
				if _, err := tw.Write(body); err != nil {
					return
				}
			}
		}
		if tw.Close() != nil || zw.Close() != nil {
			return
		}
		unpackChecked(t, buf.Bytes(), n1, n2, n3, link)
	})
}

// FuzzHCLValue: no HCL source panics; what is accepted is JSON; what is
// refused gets one of the fixed messages, so the error never quotes the
// value (which may be sensitive).
func FuzzHCLValue(f *testing.F) {
	for _, s := range []string{
		`"platform"`, `42`, `1.5e3`, `true`, `null`, `["a", 1]`, `{ team = "platform", n = [1, {b = null}] }`,
		"<<EOT\nx\nEOT\n", `"${1 + 2}"`, `[for x in [1, 2]: x * 2]`, `{for k, v in {a = 1}: v => k}`, `"%{ if true }y%{ endif }"`,
		`var.x`, `file("/etc/passwd")`, `"${var.x}"`, "1\nother = 2", `[1][5]`, `null.x`, `{a = 1}["b"]`, `1 / 0`, `-"a"`,
		`[1, 2][*]`, `true ? 1 : "a"`, `{}`, `""`,
	} {
		f.Add(s)
	}
	const key = "k"
	allowed := map[string]bool{}
	for _, m := range []string{
		`variable "k" is marked HCL but is not a valid HCL expression`,
		`variable "k": an HCL variable must be a constant value (no references or function calls)`,
		`variable "k": its HCL value cannot be written as JSON`,
		`variable "k": an HCL variable must be a constant value (no for expressions)`,
		`variable "k": a number in an HCL variable is out of range`,
	} {
		allowed[m] = true
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 4096 {
			return
		}
		out, err := hclValue(key, src)
		if err != nil {
			if !allowed[err.Error()] {
				t.Fatalf("hclValue(%q): unexpected error text %q", src, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("hclValue(%q) = %q: not JSON", src, out)
		}
	})
}

// FuzzScrubPlanJSON: JSON is scrubbed, anything else (trailing data
// included) refused. The output is the input's document with the same
// shape: a string, key or number the redactor leaves alone is kept as
// written, one it changes is replaced by the redacted text; no string, key
// or number of the output holds the secret.
func FuzzScrubPlanJSON(f *testing.F) {
	f.Add([]byte(`{"variables":{"password":{"value":"hunter2-secret"}},"n":12345678901234567890}`), "hunter2-secret")
	f.Add([]byte(`["a","xhunter2-secretx",1.50,{"k":["hunter2-secret"]}]`), "hunter2-secret")
	f.Add([]byte(`"\u0068unter2"`), "hunter2")
	f.Add([]byte(`{"a":"x"}`), "*")
	f.Add([]byte(`{"a":"***"}`), "**")
	f.Add([]byte(`{"a":1} trailing`), "a")
	f.Add([]byte(`{"a":1} {"b":2}`), "b")
	f.Add([]byte(`{"a":1}  `+"\n"), "a")
	f.Add([]byte(`not json`), "secret")
	f.Add([]byte(`{"n":123456789,"m":1e300,"k":-0.50}`), "345")
	f.Add([]byte(`{"x-ab":1,"x-abab":2,"***":3}`), "ab")
	f.Add([]byte(`{"-2":1,"-2-2":2}`), "-2") // colliding keys numbered: "***-2" would hold the secret
	f.Fuzz(func(t *testing.T, in []byte, s string) {
		if s == "" {
			return
		}
		red := phase.NewRedactor(secret.FromString(s))
		out, err := scrubPlanJSON(in, red)
		if !json.Valid(in) {
			if err == nil {
				t.Fatalf("scrubPlanJSON(%q) = %q, want it refused", in, out)
			}
			return
		}
		if err != nil {
			t.Fatalf("scrubPlanJSON(%q): %v", in, err)
		}
		if !json.Valid(out) {
			t.Fatalf("scrubbed %q to %q: not JSON", in, out)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("scrubbed %q to %q with secret %q: "+format, append([]any{in, out, s}, args...)...)
		}
		clean := func(x string) {
			t.Helper()
			if strings.Contains(x, s) {
				fail("%q still holds the secret", x)
			}
		}
		// same checks that b, from the output, is the scrub of a.
		var same func(a, b any)
		same = func(a, b any) {
			switch x := a.(type) {
			case string:
				y, ok := b.(string)
				if !ok || y != red.RedactString(x) {
					fail("%q became %#v", x, b)
				}
				clean(y)
			case json.Number:
				if red.RedactString(string(x)) == string(x) {
					if y, ok := b.(json.Number); !ok || y != x {
						fail("number %s became %#v", x, b)
					}
					clean(string(x))
				} else if y, ok := b.(string); !ok || y != red.RedactString(string(x)) {
					fail("number %s holding the secret became %#v", x, b)
				} else {
					clean(y)
				}
			case []any:
				y, ok := b.([]any)
				if !ok || len(y) != len(x) {
					fail("array %v became %#v", x, b)
				}
				for i := range x {
					same(x[i], y[i])
				}
			case map[string]any:
				y, ok := b.(map[string]any)
				if !ok || len(y) != len(x) {
					fail("object %v became %#v", x, b)
				}
				for k := range y {
					clean(k)
				}
				for k, v := range x {
					if red.RedactString(k) == k {
						same(v, y[k]) // a key with nothing to mask keeps its name and value
					}
				}
			default: // bool, nil
				if a != b {
					fail("%v became %#v", a, b)
				}
			}
		}
		same(decodeNumbers(t, in), decodeNumbers(t, out))
	})
}

// decodeNumbers decodes JSON with its numbers as written.
func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
