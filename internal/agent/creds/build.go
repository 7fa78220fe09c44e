package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/credspec"
	"github.com/runcred/runcred/internal/secret"
)

// builder carries out a grant, recording in res everything it creates so
// that Close can undo it.
type builder struct {
	cfg   Config
	res   *Result
	owner map[string]string      // env name → the variable that asked for it
	vault map[string]*vaultToken // by configuration tag
	// dyn holds the tfc_<p>_dynamic_credentials values, by provider key.
	dyn map[string]*dynamicVar
}

// dynamicVar is the value of the tfc_<p>_dynamic_credentials input variable
// (§2.0): the default configuration's fields and one entry per tag.
type dynamicVar struct {
	fields  []string
	Default map[string]string            `json:"default"`
	Aliases map[string]map[string]string `json:"aliases"`
}

func (b *builder) build(ctx context.Context, g *credspec.Spec) error {
	b.owner, b.dyn = map[string]string{}, map[string]*dynamicVar{}
	for _, c := range g.Manual {
		if err := b.manual(ctx, c); err != nil {
			return err
		}
	}
	for _, c := range g.AWS {
		if err := b.aws(ctx, c); err != nil {
			return err
		}
	}
	for _, c := range g.GCP {
		if err := b.gcp(ctx, c); err != nil {
			return err
		}
	}
	for _, c := range g.Azure {
		if err := b.azure(ctx, c); err != nil {
			return err
		}
	}
	for _, c := range g.Vault {
		if err := b.vaultLogin(ctx, c); err != nil {
			return err
		}
	}
	for _, c := range g.VaultAWS {
		if err := b.vaultAWS(ctx, c); err != nil {
			return err
		}
	}
	return b.dynamicVars()
}

// setEnv adds one variable to the phase's environment. A workspace variable
// of the same name, or a second configuration wanting it, is a conflict:
// silently preferring either would run with credentials nobody asked for.
func (b *builder) setEnv(name, value, by string) error {
	if prev, ok := b.owner[name]; ok {
		return fmt.Errorf("%s and %s both set %s: tag one of the configurations", prev, by, name)
	}
	if _, ok := b.cfg.Env[name]; ok {
		return fmt.Errorf("workspace variable %s conflicts with %s, which sets it: remove the variable", name, by)
	}
	b.owner[name] = by
	b.res.Env[name] = value
	return nil
}

// fileName is the run-directory file for a configuration: base, or
// base-<tag> for a tagged one.
func fileName(base, tag string) string {
	if tag == "" {
		return base
	}
	return base + "-" + tag
}

// writeFile creates name in the run directory with mode 0600. It refuses to
// replace an existing file: the run directory is the agent's, and a file
// already there is a leftover or a trap, not something to write through.
func (b *builder) writeFile(name string, data []byte) (string, error) {
	path := filepath.Join(b.cfg.Dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing credentials file: %w", err)
	}
	b.res.Files = append(b.res.Files, path)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing credentials file: %w", err)
	}
	return path, nil
}

// mint gets a token and records it as a secret; expires is zero when the
// Minter does not say.
func (b *builder) mint(ctx context.Context, audience, by string) (tok secret.Value, expires time.Time, err error) {
	if em, ok := b.cfg.Minter.(ExpiringMinter); ok {
		tok, expires, err = em.MintExpiring(ctx, audience)
	} else {
		tok, err = b.cfg.Minter.Mint(ctx, audience)
	}
	if err != nil {
		return secret.Value{}, time.Time{}, fmt.Errorf("minting the workload identity token for %s: %w", by, err)
	}
	if tok.Empty() {
		return secret.Value{}, time.Time{}, fmt.Errorf("minting the workload identity token for %s: empty token", by)
	}
	b.addSecret(tok)
	return tok, expires, nil
}

// tokenFile mints a token into run-directory file name, and has the
// phase's refresher rewrite it before the token expires.
func (b *builder) tokenFile(ctx context.Context, name, audience, by string) (string, secret.Value, error) {
	tok, expires, err := b.mint(ctx, audience, by)
	if err != nil {
		return "", secret.Value{}, err
	}
	path, err := b.writeFile(name, tok.Reveal())
	if err != nil {
		return "", secret.Value{}, err
	}
	if !expires.IsZero() {
		f := &tokenFile{path: path, audience: audience, by: by}
		f.minted(b.cfg.Now(), expires)
		b.res.files = append(b.res.files, f)
	}
	return path, tok, nil
}

func (b *builder) addSecret(v secret.Value) {
	if !v.Empty() {
		b.res.Secrets = append(b.res.Secrets, v)
	}
}

// expose records a configuration's fields in tfc_<key>_dynamic_credentials.
func (b *builder) expose(key, tag string, fields map[string]string, names ...string) {
	d := b.dyn[key]
	if d == nil {
		d = &dynamicVar{fields: names, Aliases: map[string]map[string]string{}}
		b.dyn[key] = d
	}
	if tag == "" {
		d.Default = fields
	} else {
		d.Aliases[tag] = fields
	}
}

// templateStart is what HCL would read as an interpolation inside a string.
var templateStart = regexp.MustCompile(`[$%]\{`)

// dynamicVars sets TF_VAR_tfc_<p>_dynamic_credentials. Terraform parses a
// TF_VAR_ value of an object type as an HCL expression; the JSON written
// here is one, provided no string holds "${" or "%{" (the values are paths
// in the run directory and configuration settings, so such a string is
// refused rather than escaped). A configuration that only uses tags still
// gets a default object, with empty fields, so the value fits the type.
func (b *builder) dynamicVars() error {
	for key, d := range b.dyn {
		if d.Default == nil {
			d.Default = map[string]string{}
			for _, f := range d.fields {
				d.Default[f] = ""
			}
		}
		var buf strings.Builder
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			return err
		}
		v := strings.TrimSpace(buf.String())
		if templateStart.MatchString(v) {
			return errors.New("tfc_" + key + "_dynamic_credentials would hold \"${\" or \"%{\", which Terraform reads as a template: rename the run directory")
		}
		if err := b.setEnv("TF_VAR_tfc_"+key+"_dynamic_credentials", v, "TFC_"+strings.ToUpper(key)+" configurations"); err != nil {
			return err
		}
	}
	return nil
}
