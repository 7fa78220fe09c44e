package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecode feeds untrusted request bodies to every input document: each
// must be decoded or refused, never panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"vars","attributes":{"key":"k","value":"v","category":"env","sensitive":true}}}`,
		`{"data":{"type":"workspaces","attributes":{"name":"w"},"relationships":{"project":{"data":{"type":"projects","id":"prj-1"}}}}}`,
		`{"data":{"type":"organizations","attributes":{"name":1}}}`,
		`{"data":{"type":"runs","attributes":{"plan-only":true},"relationships":{"workspace":{"data":{"type":"workspaces","id":"ws-1"}}}}}`,
		`{"data":null}`, `{"data":[]}`, `{}`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, model := range []any{&variableInput{}, &workspaceInput{}, &organizationInput{}, &projectInput{}, &runInput{}, &configurationVersionInput{}} {
			_ = decode(httptest.NewRequest("POST", "/", strings.NewReader(body)), model)
		}
	})
}
