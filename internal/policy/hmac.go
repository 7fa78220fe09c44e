package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// hmacLabel separates these HMACs from any other use of the key.
const hmacLabel = "runcred policy input: variable value\x00"

// ValueHMAC is what Variable.ValueHMAC and ManagerValueHMAC carry: the hex
// HMAC-SHA256 of a variable's value under key, the installation's key for
// policy inputs (at least 32 bytes). Policies compare these, never values;
// without the key a low-entropy value cannot be found by hashing guesses.
func ValueHMAC(key, value secret.Value) (string, error) {
	if len(key.Reveal()) < 32 {
		return "", fail.Invalidf("the policy input key must be at least 32 bytes")
	}
	m := hmac.New(sha256.New, key.Reveal())
	m.Write([]byte(hmacLabel))
	m.Write(value.Reveal())
	return hex.EncodeToString(m.Sum(nil)), nil
}
