package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

// FuzzDecodeGuard feeds untrusted bodies to the credential guard's PATCH
// decoder: each is accepted or refused as malformed (400) or invalid (422),
// never anything else; what it accepts is JSON of the guard's type, and no
// list is set that the body does not name.
func FuzzDecodeGuard(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"runcred-credential-guards","attributes":{"vault-addresses":["https://v"],"audiences":[]}}}`,
		`{"data":{"type":"runcred-credential-guards","attributes":{"bogus":1}}}`,
		`{"data":{"type":"workspaces","attributes":{}}}`,
		`{"data":{"type":"runcred-credential-guards","attributes":{"vault-roles":"x"}}}`,
		`{"data":null}`, `{}`, `null`, `[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		in, err := decodeGuard(httptest.NewRequest("PATCH", "/", strings.NewReader(body)))
		if err != nil {
			if _, malformed := err.(errMalformed); !malformed && !fail.Is(err, fail.Invalid) {
				t.Fatalf("refused with %T (%v), neither malformed nor invalid", err, err)
			}
			return
		}
		var doc struct {
			Data struct {
				Type       string              `json:"type"`
				Attributes map[string][]string `json:"attributes"`
			} `json:"data"`
		}
		if !json.Valid([]byte(body)) || json.Unmarshal([]byte(body), &doc) != nil || doc.Data.Type != guardType {
			t.Fatalf("accepted %q", body)
		}
		for name, l := range map[string]*[]string{"audiences": in.Audiences, "vault-addresses": in.VaultAddresses,
			"vault-auth-paths": in.VaultAuthPaths, "vault-roles": in.VaultRoles, "aws-role-arns": in.AWSRoleARNs} {
			if got, sent := l != nil, doc.Data.Attributes[name] != nil || strings.Contains(body, `"`+name+`"`); got && !sent {
				t.Fatalf("%s decoded from a body that does not send it: %q", name, body)
			}
		}
	})
}
