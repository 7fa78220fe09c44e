package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/seal"
)

// node is a daemon started in-process on 127.0.0.1 with a fresh SQLite store.
type node struct {
	d      *daemon.Daemon
	token  string
	dir    string
	client *http.Client // trusts the node's CA when it serves HTTPS; nil: http.DefaultClient
}

func startNode(t testing.TB, tweak func(*daemon.Config)) *node {
	t.Helper()
	srv := daemontest.Start(t, tweak)
	n := nodeOf(srv)
	n.client = srv.HTTPClient(t)
	return n
}

// nodeOf is the node srv is.
func nodeOf(srv *daemontest.Server) *node { return &node{d: srv.D, token: srv.Token, dir: srv.Dir} }

// call sends a JSON request to the node's API and decodes the answer.
func (n *node) call(t testing.TB, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.d.URL()+path, body)
	req.Header.Set("X-Vault-Token", n.token)
	c := http.DefaultClient
	if n.client != nil {
		c = n.client
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

type mintArgs struct {
	Workspace, Phase, Audience string
	TTL                        string
}

func (n *node) mint(t testing.TB, a mintArgs) identity.MintResponse {
	t.Helper()
	body := map[string]any{"organization": "demo", "project": "Default Project", "workspace": a.Workspace,
		"run_id": "run-test1", "phase": a.Phase, "audience": a.Audience}
	if a.TTL != "" {
		body["ttl"] = a.TTL
	}
	var out identity.MintResponse
	if code := n.call(t, "POST", "/api/runcred/v1/identity/mint", body, &out); code != http.StatusOK {
		t.Fatalf("mint: HTTP %d", code)
	}
	return out
}

func TestHealthAndReadiness(t *testing.T) {
	n := startNode(t, nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.d.URL() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// Admin endpoints refuse anonymous and bad tokens.
	for _, tok := range []string{"", "hvs.nope"} {
		req, _ := http.NewRequest("POST", n.d.URL()+"/api/runcred/v1/identity/mint", strings.NewReader(`{}`))
		if tok != "" {
			req.Header.Set("X-Vault-Token", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: HTTP %d, want 401", tok, resp.StatusCode)
		}
	}
	// The JWKS cache lifetime never outlasts the next key's publish lead.
	resp, err := http.Get(n.d.URL() + "/.well-known/jwks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=590" {
		t.Errorf("Cache-Control = %q (publish lead 10m, refresh 5s: want max-age=590)", cc)
	}
}

func TestWrongRootKeyFailsAndChangesNothing(t *testing.T) {
	n := startNode(t, nil)
	n.mint(t, mintArgs{Workspace: "ws1", Phase: "plan", Audience: "a"})
	other := filepath.Join(t.TempDir(), "other-key")
	if _, err := seal.GenerateRootKeyFile(other); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(n.dir, "runcred.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = daemon.New(context.Background(), daemon.Config{
		Addr: "127.0.0.1:0", Database: filepath.Join(n.dir, "runcred.db"), RootKeyFile: other,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err == nil || !strings.Contains(err.Error(), "root key") {
		t.Fatalf("start with the wrong root key: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(n.dir, "runcred.db"))
	if !bytes.Equal(before, after) {
		t.Fatal("database file changed by a start with the wrong root key")
	}
}
