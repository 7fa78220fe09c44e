package minio

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// AddUser creates a MinIO user with the given policy attached, through the
// admin API calls `mc admin user add` and `mc admin policy attach` make, and
// returns once MinIO's IAM shows the user enabled with that policy: the
// caller's first request with the user's keys is answered as for any later
// one.
func (s *Server) AddUser(t testing.TB, user, password, policy string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"secretKey": password, "status": "enabled"})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := madminEncrypt(s.RootPassword, body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	who := url.Values{"accessKey": {user}}
	if status, answer, err := s.admin(ctx, http.MethodPut, "add-user", who, sealed); err != nil || status != http.StatusOK {
		t.Fatalf("minio admin add-user %s: %d %s %v", user, status, answer, err)
	}
	if status, answer, err := s.adminUntil(ctx, http.MethodGet, "user-info", who, nil, ok); err != nil {
		t.Fatalf("minio: user %s added but not shown within %s: %d %s %v", user, waitTimeout, status, answer, err)
	}
	// Start waits for its policies to show, so "no such policy" should not
	// come; were IAM to lag all the same, that one answer is worth a retry.
	attach := url.Values{"policyName": {policy}, "userOrGroup": {user}, "isGroup": {"false"}}
	status, answer, err := s.adminUntil(ctx, http.MethodPut, "set-user-or-group-policy", attach, nil, func(status int, answer []byte) bool {
		return adminCode(answer) != "XMinioAdminNoSuchPolicy"
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("minio admin set-user-or-group-policy %s %s: %d %s %v", user, policy, status, answer, err)
	}
	status, answer, err = s.adminUntil(ctx, http.MethodGet, "user-info", who, nil, func(status int, answer []byte) bool {
		var info struct{ PolicyName, Status string }
		return status == http.StatusOK && json.Unmarshal(answer, &info) == nil &&
			info.PolicyName == policy && info.Status == "enabled"
	})
	if err != nil {
		t.Fatalf("minio: user %s not shown enabled with policy %s within %s: %d %s %v", user, policy, waitTimeout, status, answer, err)
	}
}

// adminCode is the error code of an admin API answer, "" if it has none.
func adminCode(answer []byte) string {
	var e struct{ Code string }
	_ = json.Unmarshal(answer, &e)
	return e.Code
}

// madminEncrypt seals an admin request body the way madmin.EncryptData does
// in FIPS mode (the server accepts every mode): salt(32) | 0x02 | nonce(8) |
// one final sio-go fragment sealed with AES-256-GCM under a PBKDF2-SHA256
// key. The stream's associated data is a flag byte and the tag of an empty
// seal under sequence number 0; the final fragment is sequence 1 with the
// flag 0x80.
func madminEncrypt(password string, plaintext []byte) ([]byte, error) {
	salt, nonce := make([]byte, 32), make([]byte, 8)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(nonce)
	key, err := pbkdf2.Key(sha256.New, password, salt, 8192, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	seq := func(n uint32) []byte {
		full := make([]byte, gcm.NonceSize())
		copy(full, nonce)
		binary.LittleEndian.PutUint32(full[len(nonce):], n)
		return full
	}
	ad := append([]byte{0x80}, gcm.Seal(nil, seq(0), nil, nil)...)
	out := append(append(append([]byte(nil), salt...), 0x02), nonce...)
	return gcm.Seal(out, seq(1), plaintext, ad), nil
}
