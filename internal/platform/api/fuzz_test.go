package api

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
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
		`{"data":{"type":"team-workspaces","attributes":{"access":"custom","runs":"apply","workspace-locking":true},"relationships":{"team":{"data":{"type":"teams","id":"team-1"}}}}}`,
		`{"data":{"type":"team-projects","attributes":{"access":"custom","project-access":{"settings":"read"},"workspace-access":{"create":true,"runs":1}}}}`,
		`{"data":{"type":"teams","attributes":{"organization-access":{"manage-workspaces":true,"read-projects":null}}}}`,
		`{"data":{"type":"run-triggers","relationships":{"sourceable":{"data":{"type":"workspaces","id":"ws-1"}}}}}`,
		`{"data":null}`, `{"data":[]}`, `{}`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, model := range []any{&runTriggerInput{}, &variableInput{}, &workspaceInput{}, &organizationInput{}, &projectInput{}, &runInput{}, &configurationVersionInput{},
			&policyInput{}, &policySetInput{}, &parameterInput{}, &teamInput{}, &stateVersionInput{}, &agentTokenInput{},
			&teamWorkspaceInput{}, &teamProjectInput{}} {
			err := decode(httptest.NewRequest("POST", "/", strings.NewReader(body)), model)
			if err == nil {
				if !json.Valid([]byte(body)) {
					t.Fatalf("%T: accepted a body that is not JSON: %q", model, body)
				}
				continue
			}
			if _, malformed := err.(errMalformed); !malformed && fail.KindOf(err) != fail.Invalid {
				t.Fatalf("%T: refused with %T (%v), not as a malformed body", model, err, err)
			}
		}
	})
}

// FuzzDecodeBindings feeds untrusted tag-binding collections: each is read
// or refused as malformed or invalid, never accepted with a binding of
// another type or an attribute other than key and value.
func FuzzDecodeBindings(f *testing.F) {
	for _, s := range []string{
		`{"data":[{"type":"tag-bindings","attributes":{"key":"env","value":"prod"}}]}`,
		`{"data":[{"type":"tag-bindings","attributes":{"key":"env","id":"x"}}]}`,
		`{"data":[{"type":"vars","attributes":{"key":"env"}}]}`, `{"data":[]}`, `{"data":{}}`, `{}`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		bs, err := decodeBindings(httptest.NewRequest("PATCH", "/", strings.NewReader(body)))
		if err != nil {
			if _, malformed := err.(errMalformed); !malformed && fail.KindOf(err) != fail.Invalid {
				t.Fatalf("refused with %T (%v), not as a malformed or invalid body", err, err)
			}
			return
		}
		var doc struct {
			Data []struct {
				Type       string         `json:"type"`
				Attributes map[string]any `json:"attributes"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(body), &doc) != nil || len(doc.Data) != len(bs) {
			t.Fatalf("accepted %q as %d bindings", body, len(bs))
		}
		for _, d := range doc.Data {
			for name := range d.Attributes {
				if d.Type != "tag-bindings" || (name != "key" && name != "value") {
					t.Fatalf("accepted %q", body)
				}
			}
		}
	})
}

// FuzzTagNames feeds untrusted tags relationships (a workspace's create,
// AddTags) to the tag-name reader: it refuses what it does not take as
// Invalid, and every binding it returns is key-only.
func FuzzTagNames(f *testing.F) {
	for _, s := range []string{`[{"type":"tags","attributes":{"name":"net"}}]`, `[{"type":"tags","id":"tag-1"}]`,
		`[{"type":"tag-bindings","attributes":{"key":"k"}}]`, `[{"type":"tags","attributes":{"name":1}}]`, `[null]`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var data []json.RawMessage
		if json.Unmarshal([]byte(body), &data) != nil {
			return
		}
		bs, err := tagNameBindings(data)
		if err != nil {
			if fail.KindOf(err) != fail.Invalid {
				t.Fatalf("refused with %v, not as invalid", err)
			}
			return
		}
		for _, b := range bs {
			if b.Key == "" || b.Value != "" {
				t.Fatalf("binding %+v from %q", b, body)
			}
		}
	})
}
