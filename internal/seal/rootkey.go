package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/runcred/runcred/internal/secret"
)

const rootKeySize = 32

// rootKeyHint ends every parse error: it says what a good key file holds
// without repeating what the bad one held.
const rootKeyHint = "it must be 32 random bytes in standard base64 (44 characters)"

// maxRootKeyFile bounds how much of a root key file is read; a real one is 45 bytes.
const maxRootKeyFile = 4096

// RootKey is the key-encryption key that wraps every data key. It is read
// from a file the operator owns and never stored in the database; only its
// ID is. It prints as its ID.
type RootKey struct {
	id  string
	key opaque[secret.Value]
}

// opaque holds a value that fmt cannot reach. A secret.Value's Format method
// is skipped when it sits in an unexported field, and a verb such as %s or %x
// makes fmt print what a nested pointer points to; but fmt prints a func as
// an address, whatever the verb or nesting, and never what it closes over.
type opaque[T any] func() T

func hide[T any](v T) opaque[T] { return func() T { return v } }

// ParseRootKey reads the contents of a root key file: standard base64 of
// exactly 32 bytes, with surrounding whitespace allowed. Errors never repeat
// the input.
func ParseRootKey(b []byte) (RootKey, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return RootKey{}, errors.New("seal: root key is empty; " + rootKeyHint)
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(raw, b)
	if err != nil {
		// The decoder's error names an offset only, but drop it anyway:
		// nothing about a bad key belongs in a log.
		return RootKey{}, errors.New("seal: root key is not valid standard base64; " + rootKeyHint)
	}
	raw = raw[:n]
	defer clear(raw)
	if n != rootKeySize {
		return RootKey{}, fmt.Errorf("seal: root key decodes to %d bytes; %s", n, rootKeyHint)
	}
	if allZero(raw) {
		// A placeholder, not a key.
		return RootKey{}, errors.New("seal: root key is all zero bytes; " + rootKeyHint)
	}
	return newRootKey(raw), nil
}

func newRootKey(raw []byte) RootKey {
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("runcred root key id"))
	return RootKey{
		id:  hex.EncodeToString(m.Sum(nil))[:16],
		key: hide(secret.New(raw)),
	}
}

// LoadRootKey reads and parses the root key file at path. It refuses a file
// that group or others may read or write: the key opens every secret.
func LoadRootKey(path string) (RootKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: open root key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: stat root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return RootKey{}, fmt.Errorf("seal: root key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return RootKey{}, fmt.Errorf("seal: root key file %s has mode %04o, so users other than its owner can reach it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRootKeyFile+1))
	defer clear(b)
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: read root key file: %w", err)
	}
	if len(b) > maxRootKeyFile {
		return RootKey{}, fmt.Errorf("seal: root key file %s is larger than %d bytes; %s", path, maxRootKeyFile, rootKeyHint)
	}
	k, err := ParseRootKey(b)
	if err != nil {
		return RootKey{}, fmt.Errorf("%w (file %s)", err, path)
	}
	return k, nil
}

// GenerateRootKeyFile writes a new random root key to path with mode 0600.
// It never overwrites: losing the old key would lose every secret.
func GenerateRootKeyFile(path string) (RootKey, error) {
	raw := make([]byte, rootKeySize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return RootKey{}, fmt.Errorf("seal: generate root key: %w", err)
	}
	enc := make([]byte, base64.StdEncoding.EncodedLen(rootKeySize), base64.StdEncoding.EncodedLen(rootKeySize)+1)
	defer clear(enc)
	base64.StdEncoding.Encode(enc, raw)
	enc = append(enc, '\n')

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return RootKey{}, fmt.Errorf("seal: create root key file: %w", err)
	}
	// Chmod as well: a umask can only take bits away, but an odd one could
	// leave the owner unable to read the key back.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(enc)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a partial key file would be mistaken for a real one
		return RootKey{}, fmt.Errorf("seal: write root key file: %w", err)
	}
	return newRootKey(raw), nil
}

// ID is a fingerprint of the key, safe to log and to store: it names the key
// without revealing it. The zero RootKey has ID "".
func (k RootKey) ID() string { return k.id }

func (k RootKey) valid() bool { return k.key != nil && !k.key().Empty() }

// aead returns AES-256-GCM under the root key, for wrapping data keys.
func (k RootKey) aead() (cipher.AEAD, error) { return newAEAD(k.key().Reveal()) }

func (k RootKey) String() string { return "seal.RootKey(id=" + k.ID() + ")" }

// Format covers every fmt verb, including %#v and %x, which would otherwise
// print the fields.
func (k RootKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

func (k RootKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

func (k RootKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// newAEAD is AES-256-GCM with a random 12-byte nonce prepended to each
// ciphertext; the standard library makes the nonce, so it cannot be reused
// by mistake.
func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(b)
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
