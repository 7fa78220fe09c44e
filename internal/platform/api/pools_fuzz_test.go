package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPoolDocuments feeds untrusted bodies to the agent pool, team token
// and variable set readers: each must be read or refused, never panic,
// and a relationship list yields only ids of the type asked for.
func FuzzPoolDocuments(f *testing.F) {
	for _, s := range []string{
		`{"data":{"type":"agent-pools","attributes":{"name":"p","organization-scoped":false},"relationships":{"allowed-workspaces":{"data":[{"type":"workspaces","id":"ws-1"}]}}}}`,
		`{"data":{"type":"agent-pools","relationships":{"allowed-workspaces":{"data":[]}}}}`,
		`{"data":{"type":"varsets","attributes":{"name":"s","global":true},"relationships":{"parent":{"data":{"type":"organizations","id":"acme"}}}}}`,
		`{"data":{"type":"varsets","relationships":{"parent":{"data":{"type":"projects","id":"prj-1"}},"workspaces":{"data":[{"type":"workspaces","id":"ws-1"}]}}}}`,
		`{"data":[{"type":"workspaces","id":"ws-1"},{"type":"projects","id":"prj-1"}]}`,
		`{"data":{"attributes":{"description":"d","expired-at":"2030-01-01T00:00:00Z"}}}`,
		`{"data":{"type":"agent-tokens","attributes":{"description":"d"}}}`,
		`{"data":{"type":"teams","attributes":{"name":"ops","organization-access":{"manage-workspaces":true}}}}`,
		`{"data":null}`, `{"data":[]}`, `{}`, `null`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := func(path string) *http.Request {
			return httptest.NewRequest("POST", path, strings.NewReader(body))
		}
		_, _ = poolOptions(req("/"))
		_, _ = varsetOptions(req("/"), "acme")
		_, _ = teamTokenOptions(req("/api/v2/teams/team-1/authentication-tokens"))
		_ = decode(req("/"), &agentTokenInput{})
		_ = decode(req("/"), &teamInput{})
		for _, typ := range []string{"workspaces", "projects"} {
			ids, err := refIDs(req("/"), typ)
			if err == nil && len(ids) > 0 && !strings.Contains(body, typ) {
				t.Errorf("refIDs(%q) returned %v from a body naming no %s", body, ids, typ)
			}
		}
	})
}
