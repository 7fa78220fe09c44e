package phase

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// VarsFile is the file the phase writes the workspace's Terraform variables
// to. OpenTofu loads *.auto.tfvars.json files in lexical order, so the
// "zzz_" prefix makes these values win over any the configuration ships.
const VarsFile = "zzz_runcred.auto.tfvars.json"

// copyConfig copies the configuration tree src into dst. Only directories
// and regular files are copied, owner-only; a symlink or device is refused,
// since it could point the run at files of the agent's host. ".terraform"
// directories are skipped: a configuration must not bring its own provider
// binaries past the mirror.
func copyConfig(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir() && d.Name() == ".terraform" && rel != ".":
			return fs.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o600)
			if info.Mode().Perm()&0o100 != 0 {
				mode = 0o700
			}
			return copyFile(path, target, mode)
		default:
			return fmt.Errorf("configuration file %s is not a regular file or directory", rel)
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeVars writes the Terraform variables, sensitive ones included, as a
// tfvars JSON file only the agent's user can read. Values never travel on a
// command line or in the environment, where other processes could see them.
func writeVars(dir string, vars map[string]any) error {
	if len(vars) == 0 {
		return nil
	}
	b, err := json.Marshal(vars)
	if err != nil {
		return fmt.Errorf("encoding terraform variables: %w", err)
	}
	return writeFile(filepath.Join(dir, VarsFile), b, 0o600)
}

// writeFile replaces path with data and mode, whatever the configuration
// had there.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cliConfig is the OpenTofu/Terraform CLI configuration of a phase. JSON is
// accepted for CLI configuration files and needs no HCL escaping of paths.
// With a mirror, providers of the hashicorp namespace come only from it and
// no registry is contacted; without one, the defaults apply. No plugin cache
// is configured: runs must not share provider directories.
func cliConfig(mirror string) ([]byte, error) {
	cfg := map[string]any{}
	if mirror != "" {
		cfg["provider_installation"] = map[string]any{
			"filesystem_mirror": []any{map[string]any{
				"path":    mirror,
				"include": []string{"registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"},
			}},
			"direct": []any{map[string]any{
				"exclude": []string{"registry.opentofu.org/*/*", "registry.terraform.io/*/*"},
			}},
		}
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// RemoveDir deletes a run directory even if a step left parts of it
// read-only.
func RemoveDir(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
