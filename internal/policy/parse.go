package policy

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/runcred/runcred/internal/fail"
)

// Files of a policy set as HCP Terraform reads it: policies.hcl or
// policies.json (HCL's JSON form) at the root declares the policies, and
// every .rego file anywhere in the tree is a module. *_test.rego files
// are OPA unit tests: RunTests runs them, evaluation never loads them.
const (
	ConfigHCL  = "policies.hcl"
	ConfigJSON = "policies.json"
	// SentinelConfig marks a Sentinel policy set, which runcred refuses.
	SentinelConfig = "sentinel.hcl"
)

// Bounds on an uploaded set.
const (
	MaxSetBytes     = 16 << 20  // the files' total size
	MaxSetFiles     = 1000      // .rego files and the configuration
	MaxArchiveBytes = 128 << 20 // an archive's uncompressed size, files the set does not use included
)

var errArchiveSize = fail.Invalidf("the policy set archive exceeds %d MiB uncompressed", MaxArchiveBytes>>20)

// limitReader lets left bytes through; constructed with one more than
// the limit, it has gone past the limit when left reaches 0.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errArchiveSize
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// ErrSentinel is the error for a Sentinel policy set or kind.
var ErrSentinel = fail.Invalidf("Sentinel policy sets are not supported: runcred evaluates OPA (kind \"opa\") policy sets, with policies.hcl or policies.json at the root")

// CheckKind accepts the policy-set kind runcred evaluates, "opa".
func CheckKind(kind string) error {
	switch kind {
	case "opa":
		return nil
	case "sentinel":
		return ErrSentinel
	}
	return fail.Invalidf("kind %q is not \"opa\"", fail.Clip(kind))
}

// configFile is policies.hcl's schema.
type configFile struct {
	Policies []struct {
		Name             string  `hcl:"name,label"`
		Query            string  `hcl:"query"`
		EnforcementLevel *string `hcl:"enforcement_level,optional"`
		Description      *string `hcl:"description,optional"`
	} `hcl:"policy,block"`
}

// Parse reads a policy set from its files, by slash-separated path
// relative to the set's root. The result has the policies and modules;
// the caller sets ID, Version, Overridable and Params.
func Parse(files map[string][]byte) (*Set, error) {
	_, hasHCL := files[ConfigHCL]
	_, hasJSON := files[ConfigJSON]
	switch {
	case hasHCL && hasJSON:
		return nil, fail.Invalidf("the policy set has both %s and %s at its root; keep one", ConfigHCL, ConfigJSON)
	case !hasHCL && !hasJSON:
		if _, ok := files[SentinelConfig]; ok {
			return nil, ErrSentinel
		}
		return nil, fail.Invalidf("the policy set has no %s or %s at its root", ConfigHCL, ConfigJSON)
	}
	name := ConfigHCL
	if hasJSON {
		name = ConfigJSON
	}
	s, err := parseConfig(name, files[name])
	if err != nil {
		return nil, err
	}
	s.Modules = map[string]string{}
	for p, b := range files {
		if !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			continue
		}
		s.Modules[p] = string(b)
	}
	if len(s.Modules) == 0 {
		return nil, fail.Invalidf("the policy set has no .rego files")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func parseConfig(name string, src []byte) (*Set, error) {
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if name == ConfigJSON {
		f, diags = p.ParseJSON(src, name)
	} else {
		f, diags = p.ParseHCL(src, name)
	}
	if diags.HasErrors() {
		return nil, fail.Invalidf("%s", diagText(diags))
	}
	var cfg configFile
	if diags := gohcl.DecodeBody(f.Body, nil, &cfg); diags.HasErrors() {
		return nil, fail.Invalidf("%s", diagText(diags))
	}
	if len(cfg.Policies) == 0 {
		return nil, fail.Invalidf("%s declares no policy blocks", name)
	}
	s := &Set{}
	for _, b := range cfg.Policies {
		pol := Policy{Name: b.Name, Query: b.Query}
		if b.Description != nil {
			pol.Description = *b.Description
		}
		lvl := ""
		if b.EnforcementLevel != nil {
			lvl = *b.EnforcementLevel
		}
		l, err := ParseLevel(lvl)
		if err != nil {
			return nil, fail.Invalidf("%s: policy %q: enforcement_level %q is not one of advisory, mandatory, hard-mandatory", name, fail.Clip(b.Name), fail.Clip(lvl))
		}
		pol.Level = l
		if _, err := queryRef(pol.Query); err != nil {
			return nil, fail.Invalidf("%s: policy %q: query %s", name, fail.Clip(b.Name), fail.Message(err))
		}
		s.Policies = append(s.Policies, pol)
	}
	return s, nil
}

// diagText is HCL's diagnostics, file and line first, one per line.
func diagText(diags hcl.Diagnostics) string {
	var lines []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		at := ""
		if d.Subject != nil {
			at = fmt.Sprintf("%s:%d: ", d.Subject.Filename, d.Subject.Start.Line)
		}
		lines = append(lines, strings.ToValidUTF8(at+d.Summary+": "+d.Detail, "?"))
	}
	return strings.Join(lines, "\n")
}

// ReadFS reads a policy set's files from fsys: the configuration at the
// root and every .rego file, within MaxSetFiles and MaxSetBytes.
func ReadFS(fsys fs.FS) (map[string][]byte, error) {
	files := map[string][]byte{}
	total := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .git and the like
			}
			return nil
		}
		if !wanted(p) || !d.Type().IsRegular() {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return add(files, &total, p, b)
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// wanted reports whether a set's file at p matters: the configurations at
// the root and Rego anywhere.
func wanted(p string) bool {
	switch p {
	case ConfigHCL, ConfigJSON, SentinelConfig:
		return true
	}
	return strings.HasSuffix(p, ".rego")
}

func add(files map[string][]byte, total *int, p string, b []byte) error {
	*total += len(b)
	if len(files) >= MaxSetFiles {
		return fail.Invalidf("the policy set has more than %d files", MaxSetFiles)
	}
	if *total > MaxSetBytes {
		return fail.Invalidf("the policy set's files exceed %d MiB", MaxSetBytes>>20)
	}
	files[p] = b
	return nil
}

// ReadArchive reads a policy set uploaded as a .tar.gz, as HCP Terraform
// takes a policy set version: regular files and directories only, no path
// leaving the root, within MaxSetFiles and MaxSetBytes.
func ReadArchive(r io.Reader) (map[string][]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fail.Invalidf("the policy set archive is not gzip: %v", err)
	}
	// Files the set does not use are skipped, but still decompressed: the
	// whole stream is bounded, so a compressed bomb cannot run on.
	lr := &limitReader{r: zr, left: MaxArchiveBytes + 1}
	tr := tar.NewReader(lr)
	files := map[string][]byte{}
	total := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if lr.left <= 0 {
			return nil, errArchiveSize
		}
		if err != nil {
			return nil, fail.Invalidf("the policy set archive is not a tar archive: %v", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeReg:
		default:
			if wanted(name) {
				return nil, fail.Invalidf("the policy set archive's %q is not a regular file", fail.Clip(h.Name))
			}
			continue
		}
		if !fs.ValidPath(name) || path.Clean(name) != name {
			return nil, fail.Invalidf("the policy set archive has the path %q, which leaves or is not a clean path below the root", fail.Clip(h.Name))
		}
		if !wanted(name) {
			continue
		}
		if _, dup := files[name]; dup {
			return nil, fail.Invalidf("the policy set archive holds %q twice", fail.Clip(name))
		}
		if h.Size > MaxSetBytes {
			return nil, fail.Invalidf("the policy set's files exceed %d MiB", MaxSetBytes>>20)
		}
		b, err := io.ReadAll(io.LimitReader(tr, MaxSetBytes+1))
		if lr.left <= 0 {
			return nil, errArchiveSize
		}
		if err != nil {
			return nil, fail.Invalidf("reading %q from the policy set archive: %v", fail.Clip(name), err)
		}
		if err := add(files, &total, name, b); err != nil {
			return nil, err
		}
	}
	return files, nil
}
