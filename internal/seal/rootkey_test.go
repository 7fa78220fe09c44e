package seal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// wantID computes the fingerprint independently of the code under test.
func wantID(raw []byte) string {
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("runcred root key id"))
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// parseErr matches every error ParseRootKey may return: fixed text, so no
// error can carry the input.
var parseErr = regexp.MustCompile(`^seal: root key (is empty|is not valid standard base64|decodes to \d+ bytes|is all zero bytes); it must be 32 random bytes in standard base64 \(44 characters\)$`)

func TestParseRootKey(t *testing.T) {
	key := bytes.Repeat([]byte{0x5A}, 32)
	key[0] = 1
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"good", b64(key), true},
		{"good with whitespace", " \t\n" + b64(key) + "\r\n\n", true},
		{"31 bytes", b64(key[:31]), false},
		{"33 bytes", b64(append(bytes.Clone(key), 2)), false},
		{"64 bytes", b64(append(bytes.Clone(key), key...)), false},
		{"bad base64", strings.Replace(b64(key), "W", "!", 1), false},
		{"url-safe alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(b64(bytes.Repeat([]byte{0xFB, 0xFF, 0xBF}, 11)[:32])), false},
		{"unpadded", strings.TrimRight(b64(key), "="), false},
		{"hex instead", hex.EncodeToString(key), false},
		{"empty", "", false},
		{"only whitespace", " \n\t", false},
		{"all zeros", b64(make([]byte, 32)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParseRootKey([]byte(c.in))
			if c.ok {
				if err != nil {
					t.Fatalf("ParseRootKey: %v", err)
				}
				if k.ID() != wantID(key) {
					t.Fatalf("ID = %q, want %q", k.ID(), wantID(key))
				}
				if !bytes.Equal(k.key().Reveal(), key) {
					t.Fatal("parsed key differs from input")
				}
				return
			}
			if err == nil {
				t.Fatal("ParseRootKey accepted a bad key")
			}
			if !parseErr.MatchString(err.Error()) {
				t.Fatalf("unexpected error text %q", err)
			}
			if in := strings.TrimSpace(c.in); len(in) > 0 && strings.Contains(err.Error(), in) {
				t.Fatalf("error %q echoes the input", err)
			}
			if k.ID() != "" {
				t.Fatal("a failed parse returned a key")
			}
		})
	}
}

func TestRootKeyID(t *testing.T) {
	a, rawA := randomRoot(t)
	b, _ := randomRoot(t)
	if a.ID() != wantID(rawA) || len(a.ID()) != 16 {
		t.Fatalf("ID = %q, want %q", a.ID(), wantID(rawA))
	}
	if a.ID() == b.ID() {
		t.Fatal("two keys share an id")
	}
	if again, _ := ParseRootKey([]byte(b64(rawA))); again.ID() != a.ID() {
		t.Fatal("ID is not stable")
	}
	if (RootKey{}).ID() != "" {
		t.Fatal("zero RootKey has an id")
	}
}

func writeKeyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.key")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile is subject to the umask
		t.Fatal(err)
	}
	return path
}

func TestLoadRootKey(t *testing.T) {
	_, raw := randomRoot(t)
	good := b64(raw) + "\n"

	k, err := LoadRootKey(writeKeyFile(t, good, 0o600))
	if err != nil || k.ID() != wantID(raw) {
		t.Fatalf("LoadRootKey(0600) = %v, %v", k, err)
	}
	if _, err := LoadRootKey(writeKeyFile(t, good, 0o400)); err != nil {
		t.Fatalf("LoadRootKey(0400): %v", err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		path := writeKeyFile(t, good, mode)
		_, err := LoadRootKey(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("LoadRootKey(%04o) = %v; want a chmod 600 error", mode, err)
		}
		if strings.Contains(err.Error(), strings.TrimSpace(good)) {
			t.Fatal("error echoes the key")
		}
	}

	bad := b64(raw[:31])
	_, err = LoadRootKey(writeKeyFile(t, bad, 0o600))
	if err == nil || strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "31 bytes") {
		t.Fatalf("LoadRootKey(31 bytes) = %v", err)
	}
	if _, err := LoadRootKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("LoadRootKey of a missing file succeeded")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if _, err := LoadRootKey(dir); err == nil {
		t.Fatal("LoadRootKey of a directory succeeded")
	}
	big := writeKeyFile(t, good+strings.Repeat(" ", maxRootKeyFile), 0o600)
	if _, err := LoadRootKey(big); err == nil {
		t.Fatal("LoadRootKey of an oversized file succeeded")
	}
	// The bound is inclusive: a key padded to exactly maxRootKeyFile loads.
	full := writeKeyFile(t, good+strings.Repeat(" ", maxRootKeyFile-len(good)), 0o600)
	if k, err := LoadRootKey(full); err != nil || k.ID() != wantID(raw) {
		t.Fatalf("LoadRootKey of a %d-byte file: %v", maxRootKeyFile, err)
	}
}

func TestGenerateRootKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	k, err := GenerateRootKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(content) != 45 || content[44] != '\n' {
		t.Fatalf("file is %d bytes, want 44 base64 characters and a newline", len(content))
	}
	loaded, err := LoadRootKey(path)
	if err != nil || loaded.ID() != k.ID() {
		t.Fatalf("LoadRootKey of a generated file = %v, %v; want id %s", loaded, err, k.ID())
	}

	if _, err := GenerateRootKeyFile(path); err == nil {
		t.Fatal("GenerateRootKeyFile overwrote an existing file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, content) {
		t.Fatal("a refused GenerateRootKeyFile changed the file")
	}
	other, err := GenerateRootKeyFile(filepath.Join(t.TempDir(), "other.key"))
	if err != nil || other.ID() == k.ID() {
		t.Fatalf("second generated key: %v, err %v", other, err)
	}
}

func FuzzParseRootKey(f *testing.F) {
	key := bytes.Repeat([]byte{3}, 32)
	f.Add([]byte(b64(key)))
	f.Add([]byte(" " + b64(key) + "\n"))
	f.Add([]byte(b64(key[:31])))
	f.Add([]byte(b64(append(key, 1))))
	f.Add([]byte("not base64!"))
	f.Add([]byte(""))
	f.Add([]byte(b64(make([]byte, 32))))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := ParseRootKey(in)
		if err != nil {
			if !parseErr.MatchString(err.Error()) {
				t.Fatalf("unexpected error text %q", err)
			}
			return
		}
		raw := k.key().Reveal()
		if len(raw) != 32 || k.ID() != wantID(raw) {
			t.Fatalf("accepted key of %d bytes with id %q", len(raw), k.ID())
		}
		if again, err := ParseRootKey([]byte(b64(raw))); err != nil || again.ID() != k.ID() {
			t.Fatalf("re-encoded key does not parse to the same key: %v", err)
		}
	})
}
