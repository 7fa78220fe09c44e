package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/secret"
)

func TestValueHMAC(t *testing.T) {
	key := secret.FromString(strings.Repeat("k", 32))
	a, err := ValueHMAC(key, secret.FromString("role-id-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ValueHMAC(key, secret.FromString("role-id-1"))
	other, _ := ValueHMAC(key, secret.FromString("role-id-2"))
	otherKey, _ := ValueHMAC(secret.FromString(strings.Repeat("j", 32)), secret.FromString("role-id-1"))
	bare := sha256.Sum256([]byte("role-id-1"))
	if a != again || a == other || a == otherKey || a == hex.EncodeToString(bare[:]) || len(a) != 64 {
		t.Fatalf("hmacs %s %s %s %s", a, again, other, otherKey)
	}
	if _, err := ValueHMAC(secret.FromString("short"), secret.FromString("x")); err == nil {
		t.Fatal("a short key was accepted")
	}
}
