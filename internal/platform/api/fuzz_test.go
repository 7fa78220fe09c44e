package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecode feeds untrusted request bodies to every input document: each
// is decoded or refused as malformed (a 400 for the client, never a 500),
// and nothing but valid JSON is ever accepted.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"vars","attributes":{"key":"k","value":"v","category":"env","sensitive":true}}}`,
		`{"data":{"type":"workspaces","attributes":{"name":"w"},"relationships":{"project":{"data":{"type":"projects","id":"prj-1"}}}}}`,
		`{"data":{"type":"organizations","attributes":{"name":1}}}`,
		`{"data":{"type":"runs","attributes":{"plan-only":true},"relationships":{"workspace":{"data":{"type":"workspaces","id":"ws-1"}}}}}`,
		`{"data":{"type":"policy-sets","attributes":{"name":"s","kind":"opa"},"relationships":{"policies":{"data":[{"type":"policies","id":"pol-1"}]}}}}`,
		`{"data":{"type":"policies","attributes":{"name":"p","enforce":[{"path":"p.rego","mode":"advisory"}]}}}`,
		`{"data":null}`, `{"data":[]}`, `{}`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, model := range []any{&variableInput{}, &workspaceInput{}, &organizationInput{}, &projectInput{}, &runInput{}, &configurationVersionInput{},
			&policyInput{}, &policySetInput{}, &parameterInput{}} {
			err := decode(httptest.NewRequest("POST", "/", strings.NewReader(body)), model)
			if err == nil {
				if !json.Valid([]byte(body)) {
					t.Fatalf("%T: accepted a body that is not JSON: %q", model, body)
				}
				continue
			}
			if _, malformed := err.(errMalformed); !malformed {
				t.Fatalf("%T: refused with %T (%v), not as a malformed body", model, err, err)
			}
		}
	})
}
