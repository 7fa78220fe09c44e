package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runcred/runcred/internal/fail"
)

const regoP = "package terraform.policies.p\ndeny contains \"x\" if false\n"

func TestParse(t *testing.T) {
	hclSet := map[string][]byte{
		"policies.hcl": []byte(`
policy "p" {
  query             = "data.terraform.policies.p.deny"
  enforcement_level = "hard-mandatory"
  description       = "no p"
}
policy "q" {
  query = "data.terraform.policies.q.deny"
}
`),
		"p/p.rego":      []byte(regoP),
		"q.rego":        []byte("package terraform.policies.q\ndeny contains \"x\" if false\n"),
		"p/p_test.rego": []byte("package terraform.policies.p_test\ntest_x if true\n"),
	}
	s, err := Parse(hclSet)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Policies) != 2 || s.Policies[0].Level != HardMandatory || s.Policies[0].Description != "no p" ||
		s.Policies[1].Level != Advisory {
		t.Fatalf("policies %+v", s.Policies)
	}
	if len(s.Modules) != 2 || s.Modules["p/p.rego"] != regoP {
		t.Fatalf("modules %v (tests must not be modules)", s.Modules)
	}

	jsonSet := map[string][]byte{
		"policies.json": []byte(`{"policy": {"p": {"query": "data.terraform.policies.p.deny", "enforcement_level": "mandatory"}}}`),
		"p.rego":        []byte(regoP),
	}
	s, err = Parse(jsonSet)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Policies) != 1 || s.Policies[0].Level != Mandatory {
		t.Fatalf("policies %+v", s.Policies)
	}
}

// TestParseRefuses: each bad set is refused, as invalid, with a message
// naming the file or field.
func TestParseRefuses(t *testing.T) {
	rego := []byte(regoP)
	for _, c := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"sentinel", map[string][]byte{"sentinel.hcl": []byte(`policy "x" { source = "x.sentinel" }`)}, "Sentinel"},
		{"no config", map[string][]byte{"p.rego": rego}, "no policies.hcl"},
		{"both configs", map[string][]byte{"policies.hcl": nil, "policies.json": nil, "p.rego": rego}, "both"},
		{"hcl syntax", map[string][]byte{"policies.hcl": []byte(`policy "p" {`), "p.rego": rego}, "policies.hcl:1"},
		{"unknown argument", map[string][]byte{"policies.hcl": []byte("policy \"p\" {\n query = \"data.a.deny\"\n source = \"x\"\n}"), "p.rego": rego}, "policies.hcl:3"},
		{"unknown block", map[string][]byte{"policies.hcl": []byte("param \"x\" {}\n"), "p.rego": rego}, "policies.hcl:1"},
		{"missing query", map[string][]byte{"policies.hcl": []byte(`policy "p" {}`), "p.rego": rego}, "query"},
		{"empty query", map[string][]byte{"policies.hcl": []byte(`policy "p" { query = "" }`), "p.rego": rego}, "empty"},
		{"query not data", map[string][]byte{"policies.hcl": []byte(`policy "p" { query = "input.x" }`), "p.rego": rego}, "must refer into data"},
		{"query not a ref", map[string][]byte{"policies.hcl": []byte(`policy "p" { query = "x := 1" }`), "p.rego": rego}, "not a Rego reference"},
		{"bad level", map[string][]byte{"policies.hcl": []byte(`policy "p" {
 query = "data.a.deny"
 enforcement_level = "soft-mandatory"
}`), "p.rego": rego}, `"soft-mandatory"`},
		{"no policies", map[string][]byte{"policies.hcl": []byte("\n"), "p.rego": rego}, "no policy blocks"},
		{"twice", map[string][]byte{"policies.hcl": []byte("policy \"p\" { query = \"data.a.deny\" }\npolicy \"p\" { query = \"data.a.deny\" }"), "p.rego": rego}, "twice"},
		{"bad name", map[string][]byte{"policies.hcl": []byte(`policy "a b" { query = "data.a.deny" }`), "p.rego": rego}, "name"},
		{"no rego", map[string][]byte{"policies.hcl": []byte(`policy "p" { query = "data.a.deny" }`)}, "no .rego"},
		{"json config", map[string][]byte{"policies.json": []byte(`{"policy": {"p": {"query": "data.a.deny", "source": "x"}}}`), "p.rego": rego}, "policies.json:1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.files)
			if err == nil || !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an invalid error with %q, got %v", c.want, err)
			}
		})
	}
}

func TestCheckKind(t *testing.T) {
	if err := CheckKind("opa"); err != nil {
		t.Fatal(err)
	}
	if err := CheckKind("sentinel"); !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), "Sentinel") {
		t.Fatalf("sentinel: %v", err)
	}
	if err := CheckKind("cedar"); !fail.Is(err, fail.Invalid) {
		t.Fatalf("cedar: %v", err)
	}
}

func TestReadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"policies.hcl":        {Data: []byte(`policy "p" { query = "data.terraform.policies.p.deny" }`)},
		"lib/p.rego":          {Data: []byte(regoP)},
		"README.md":           {Data: []byte("ignored")},
		".git/config.rego":    {Data: []byte("ignored")},
		"nested/policies.hcl": {Data: []byte("ignored: not at the root")},
	}
	files, err := ReadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sortedNames(files), " "); got != "lib/p.rego policies.hcl" {
		t.Fatalf("files %s", got)
	}
	if _, err := Parse(files); err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	name string
	typ  byte
	data string
}

func archive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data))}
		if e.typ != tar.TypeReg {
			h.Size = 0
			h.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.data)); err != nil {
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

func TestReadArchive(t *testing.T) {
	good := archive(t,
		entry{"./policies.hcl", tar.TypeReg, `policy "p" { query = "data.terraform.policies.p.deny" }`},
		entry{"./p/", tar.TypeDir, ""},
		entry{"./p/p.rego", tar.TypeReg, regoP},
		entry{"./README.md", tar.TypeReg, "x"},
		entry{"./link", tar.TypeSymlink, ""},
	)
	files, err := ReadArchive(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sortedNames(files), " "); got != "p/p.rego policies.hcl" {
		t.Fatalf("files %s", got)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("plain"), "not gzip"},
		{"escape", archive(t, entry{"../p.rego", tar.TypeReg, regoP}), "leaves"},
		{"absolute", archive(t, entry{"/p.rego", tar.TypeReg, regoP}), "leaves"},
		{"symlinked rego", archive(t, entry{"p.rego", tar.TypeSymlink, ""}), "not a regular file"},
		{"twice", archive(t, entry{"p.rego", tar.TypeReg, regoP}, entry{"./p.rego", tar.TypeReg, regoP}), "twice"},
		{"too big", archive(t, entry{"p.rego", tar.TypeReg, strings.Repeat("#", MaxSetBytes+1)}), "exceed"},
		{"bomb", archive(t, entry{"big.bin", tar.TypeReg, strings.Repeat("\x00", MaxArchiveBytes+1)}), "uncompressed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadArchive(bytes.NewReader(c.data))
			if err == nil || !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an invalid error with %q, got %v", c.want, err)
			}
		})
	}
}

// FuzzParse holds the set parser to never panic on untrusted files and to
// return either a valid set or an invalid-request error.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`policy "p" { query = "data.terraform.policies.p.deny" enforcement_level = "mandatory" }`), false, []byte(regoP))
	f.Add([]byte(`{"policy": {"p": {"query": "data.terraform.policies.p.deny"}}}`), true, []byte(regoP))
	f.Add([]byte(`policy "p" {`), false, []byte(""))
	f.Fuzz(func(t *testing.T, config []byte, isJSON bool, rego []byte) {
		name := ConfigHCL
		if isJSON {
			name = ConfigJSON
		}
		s, err := Parse(map[string][]byte{name: config, "p.rego": rego})
		if err != nil {
			if !fail.Is(err, fail.Invalid) {
				t.Fatalf("error of kind %v: %v", fail.KindOf(err), err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse returned a set that does not validate: %v", err)
		}
	})
}

// FuzzReadArchive holds the archive reader to never panic and to refuse
// bad archives as invalid.
func FuzzReadArchive(f *testing.F) {
	f.Add(archive(f, entry{"policies.hcl", tar.TypeReg, `policy "p" { query = "data.a.deny" }`}, entry{"p.rego", tar.TypeReg, regoP}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := ReadArchive(bytes.NewReader(data))
		if err != nil {
			if !fail.Is(err, fail.Invalid) {
				t.Fatalf("error of kind %v: %v", fail.KindOf(err), err)
			}
			return
		}
		for p := range files {
			if !wanted(p) {
				t.Fatalf("kept %q", p)
			}
		}
	})
}

func TestRunTests(t *testing.T) {
	files := map[string][]byte{
		"policies.hcl": []byte(`policy "p" { query = "data.terraform.policies.p.deny" }`),
		"p.rego":       []byte("package terraform.policies.p\ndeny contains \"big\" if input.n > data.params.max\n"),
		"p_test.rego": []byte(`package terraform.policies.p_test
import data.terraform.policies.p
test_passes if { count(p.deny) == 0 with input as {"n": 1} }
test_fails if { count(p.deny) == 0 with input as {"n": 5} }
test_errors if { to_number("x") == 1 }
todo_test_later if { false }
`),
	}
	res, err := RunTests(t.Context(), files, map[string]any{"max": 3})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]TestResult{}
	for _, r := range res {
		got[r.Name] = r
	}
	if len(res) != 4 || !got["test_passes"].Passed || got["test_fails"].Passed ||
		got["test_errors"].Passed || got["test_errors"].Error == "" || !got["todo_test_later"].Skipped ||
		got["test_fails"].Location != "p_test.rego:4" {
		t.Fatalf("results %+v", res)
	}
	// Tests cannot call what evaluation cannot.
	files["net_test.rego"] = []byte("package x_test\ntest_net if { http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"}) }\n")
	if _, err := RunTests(t.Context(), files, nil); err == nil || !strings.Contains(err.Error(), "http.send") {
		t.Fatalf("http.send in a test: %v", err)
	}
	if _, err := RunTests(t.Context(), map[string][]byte{"p.rego": files["p.rego"]}, nil); err == nil || !strings.Contains(err.Error(), "no Rego tests") {
		t.Fatalf("no tests: %v", err)
	}
}

// FuzzNewInput holds the input conversion, which reads a plan an agent
// produced, to never panic and to refuse what is not one JSON object.
func FuzzNewInput(f *testing.F) {
	f.Add([]byte(planWithBucket))
	f.Add([]byte(`{"a": 1e400}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, plan []byte) {
		in, err := NewInput(plan, Run{})
		if err != nil {
			if !fail.Is(err, fail.Invalid) {
				t.Fatalf("error of kind %v: %v", fail.KindOf(err), err)
			}
			return
		}
		if in.value == nil {
			t.Fatal("no value")
		}
	})
}

// sortedNames lists files' paths in order, for tests.
func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
