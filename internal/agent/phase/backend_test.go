package phase

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// TestOverrideRemoteBackend: a configuration naming runcred (cloud block or
// backend "remote", in HCL or JSON) gets the override file; one with another
// backend or none does not; a file of the override's name is refused, not
// overwritten.
func TestOverrideRemoteBackend(t *testing.T) {
	for _, tc := range []struct {
		name, file, body string
		want             bool
	}{
		{"cloud", "main.tf", `terraform {
  cloud {
    organization = "demo"
    workspaces { name = "net" }
  }
}`, true},
		{"remote", "backend.tf", `terraform {
  backend "remote" {
    organization = "demo"
  }
}`, true},
		{"json cloud", "main.tf.json", `{"terraform": {"cloud": {"organization": "demo"}}}`, true},
		{"s3", "main.tf", `terraform {
  backend "s3" { bucket = "b" }
}`, false},
		{"none", "main.tf", `resource "terraform_data" "x" {}`, false},
		{"remote outside terraform", "main.tf", `locals {
  cloud = 1
}
resource "terraform_data" "backend" {}`, false},
		{"not a configuration file", "notes.txt", `terraform { cloud {} }`, false},
		{"unparsable", "main.tf", `terraform { cloud {`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := overrideRemoteBackend(dir); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, backendOverrideName))
			if got := err == nil; got != tc.want {
				t.Fatalf("override written %v, want %v", got, tc.want)
			}
			if tc.want && string(b) != backendOverride {
				t.Errorf("override = %q", b)
			}
		})
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"main.tf": `terraform {
  cloud {}
}`, backendOverrideName: `{"terraform": {"backend": {"s3": {}}}}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := overrideRemoteBackend(dir); err == nil || !strings.Contains(err.Error(), backendOverrideName) {
		t.Errorf("a configuration with the override's name: %v", err)
	}
}

// FuzzUsesRemoteBackend: any configuration file, HCL or JSON, is read
// without a panic.
func FuzzUsesRemoteBackend(f *testing.F) {
	for _, s := range []string{`terraform { cloud {} }`, `terraform { backend "remote" {} }`, `terraform { backend {} }`,
		`{"terraform": [{"backend": {"remote": {}}}]}`, `terraform "x" { cloud "y" {} }`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p := hclparse.NewParser()
		if file, _ := p.ParseHCL([]byte(src), "main.tf"); file != nil {
			usesRemoteBackend(file.Body)
		}
		if file, _ := p.ParseJSON([]byte(src), "main.tf.json"); file != nil {
			usesRemoteBackend(file.Body)
		}
	})
}
