package broker_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// countingBody is a request body that counts what the server read of it.
type countingBody struct {
	left int64
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > c.left {
		n = c.left
	}
	for i := range p[:n] {
		p[i] = ' '
	}
	c.left -= n
	c.read.Add(n)
	return int(n), nil
}

func (c *countingBody) Close() error { return nil }

// TestBodyReadOnlyAfterAuthentication: a request to a path that needs a
// token is refused without one byte of its body being read, whatever it
// claims to carry; a path that needs no token (a login) and a request with
// a good token read theirs.
func TestBodyReadOnlyAfterAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := start(t, db, options{})
		h := s.B.Handler()
		send := func(method, path, tok string, size int64) (int, int64) {
			body := &countingBody{left: size}
			req := httptest.NewRequest(method, path, nil)
			req.Body, req.ContentLength = body, size
			if tok != "" {
				req.Header.Set("X-Vault-Token", tok)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code, body.read.Load()
		}
		for _, tc := range []struct{ method, path, tok string }{
			{"PUT", "/v1/secret/data/app", ""},
			{"POST", "/v1/sys/policies/acl/x", "hvs.forged"},
			{"POST", "/v1/auth/token/create", ""},
			{"DELETE", "/v1/sys/mounts/secret", ""},
			{"PATCH", "/v1/secret/data/app", "hvs.forged"},
			{"PUT", "/v1/no/such/mount", ""},
		} {
			code, read := send(tc.method, tc.path, tc.tok, broker.MaxRequestSize)
			if read != 0 {
				t.Errorf("%s %s: the server read %d bytes of an unauthenticated body", tc.method, tc.path, read)
			}
			if code != http.StatusForbidden && code != http.StatusNotFound {
				t.Errorf("%s %s: HTTP %d", tc.method, tc.path, code)
			}
		}
		// A good token's body is read; so is a login's, which needs none.
		if code, read := send("POST", "/v1/auth/token/lookup-self", s.Root, 64); code != http.StatusOK || read != 64 {
			t.Errorf("a good token's body: HTTP %d, %d bytes read", code, read)
		}
		if err := s.Client.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatal(err)
		}
		if code, read := send("POST", "/v1/auth/approle/login", "", 64); code != http.StatusBadRequest || read != 64 {
			t.Errorf("an anonymous login's body: HTTP %d, %d bytes read", code, read)
		}
	})
}
