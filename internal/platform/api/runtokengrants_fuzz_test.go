package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

// FuzzDecodeGrants feeds untrusted bodies to the run-token grants' PATCH
// decoder: each is accepted or refused as malformed (400) or invalid
// (422), never anything else; what it accepts is JSON of the resource's
// type whose grants array has as many entries as were decoded.
func FuzzDecodeGrants(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"project-id":"prj-1","permission":"manage-workspaces-and-variables"}]}}}`,
		`{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[]}}}`,
		`{"data":{"type":"runcred-run-token-grants","attributes":{"grants":[{"bogus":1}]}}}`,
		`{"data":{"type":"runcred-run-token-grants","attributes":{"other":[]}}}`,
		`{"data":{"type":"workspaces","attributes":{}}}`,
		`{"data":null}`, `{}`, `null`, `[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		gs, err := decodeGrants(httptest.NewRequest("PATCH", "/", strings.NewReader(body)))
		if err != nil {
			if _, malformed := err.(errMalformed); !malformed && !fail.Is(err, fail.Invalid) {
				t.Fatalf("refused with %T (%v), neither malformed nor invalid", err, err)
			}
			return
		}
		var doc struct {
			Data struct {
				Type       string `json:"type"`
				Attributes struct {
					Grants []json.RawMessage `json:"grants"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if !json.Valid([]byte(body)) || json.Unmarshal([]byte(body), &doc) != nil || doc.Data.Type != grantsType ||
			len(doc.Data.Attributes.Grants) != len(gs) {
			t.Fatalf("accepted %q as %+v", body, gs)
		}
	})
}
