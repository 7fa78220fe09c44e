package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/auth/approle"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/secrets/kv"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
	"github.com/runcred/runcred/internal/token"
)

// fuzzBroker is a broker on db for the fuzz target, with a root token and
// mounts of the engines that reach nothing outside the process (no jwt,
// whose config fetches URLs, and no aws).
func fuzzBroker(f testing.TB, db *store.DB) (http.Handler, string) {
	ctx := context.Background()
	root, err := seal.GenerateRootKeyFile(filepath.Join(f.TempDir(), "root-key"))
	if err != nil {
		f.Fatal(err)
	}
	sl, err := seal.Open(ctx, db, root)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now
	al := audit.New(db, secret.FromString("0123456789abcdef0123456789abcdef"), now)
	tokens := token.NewStore(db, now)
	b, err := broker.New(ctx, broker.Config{
		DB: db, Seal: sl, Audit: al, Tokens: tokens, Logger: slog.New(slog.DiscardHandler), Now: now, Refresh: time.Hour,
		Engines: map[string]engine.Factory{
			"leasetest": testLeases.factory,
			"kv":        kv.Factory(kv.Options{Now: now}),
			"approle":   approle.Factory(approle.Options{Now: now, HMACKey: secret.FromString("0123456789abcdef0123456789abcdef")}),
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	tok, _, err := tokens.Create(ctx, token.Entry{Policies: []string{"root"}, DisplayName: "root"})
	if err != nil {
		f.Fatal(err)
	}
	h := b.Handler()
	for _, m := range []struct{ path, body string }{
		{"sys/mounts/lt", `{"type":"leasetest"}`},
		{"sys/mounts/secret", `{"type":"kv","options":{"version":"2"}}`},
		{"sys/auth/approle", `{"type":"approle"}`},
		{"sys/policies/acl/p", `{"policy":"path \"secret/*\" { capabilities = [\"read\"] }"}`},
	} {
		if code, body := serve(h, tok.RevealString(), "PUT", m.path, []byte(m.body)); code != http.StatusNoContent {
			f.Fatalf("set up %s: %d %s", m.path, code, body)
		}
	}
	return h, tok.RevealString()
}

// serve sends one request straight to the handler. The request is built
// field by field, so any method and path string can be sent as is.
func serve(h http.Handler, tok, method, path string, body []byte) (int, []byte) {
	p, q, _ := strings.Cut(path, "?")
	req := (&http.Request{
		Method: method, URL: &url.URL{Path: "/v1/" + p, RawQuery: q}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"X-Vault-Token": {tok}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Host: "runcred.test", RemoteAddr: "127.0.0.1:40000",
	}).WithContext(context.Background())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// FuzzHandlerRequest sends arbitrary methods, paths and bodies, as root, to
// the HTTP handler. It must never panic, must answer with a status a Vault
// client understands as a client-side outcome, and must answer JSON or
// nothing.
func FuzzHandlerRequest(f *testing.F) {
	h, root := fuzzBroker(f, storetest.Open(f, filepath.Join(f.TempDir(), "runcred.db")))
	for _, seed := range []struct{ method, path, body string }{
		{"GET", "sys/mounts", ""},
		{"LIST", "secret/metadata", ""},
		{"GET", "secret/metadata/?list=true", ""},
		{"PUT", "secret/data/a", `{"data":{"k":"v"},"options":{"cas":0}}`},
		{"PATCH", "secret/data/a", `{"data":{"k":null}}`},
		{"GET", "secret/data/a?version=1", ""},
		{"DELETE", "secret/data/a", ""},
		{"POST", "secret/undelete/a", `{"versions":[1]}`},
		{"GET", "lt/creds/x?ttl=1h", ""},
		{"PUT", "sys/leases/lookup", `{"lease_id":"lt/creds/x/abc"}`},
		{"PUT", "auth/token/create", `{"policies":["p"],"ttl":"1h","meta":{"a":"b"}}`},
		{"PUT", "auth/approle/role/r", `{"token_policies":"p","secret_id_num_uses":1}`},
		{"POST", "auth/approle/login", `{"role_id":"x","secret_id":"y"}`},
		{"PUT", "sys/capabilities-self", `{"paths":["secret/a"]}`},
		{"GET", "sys/internal/ui/mounts/secret/a", ""},
		{"PUT", "sys/policies/acl/q", `{"policy":"cGF0aCAieCIgeyBjYXBhYmlsaXRpZXMgPSBbInJlYWQiXSB9"}`},
		{"GET", "secret/data/../../sys/mounts", ""},
		{"PUT", "sys/mounts/secret/tune", `{"default_lease_ttl":"-1"}`},
		{"PUT", "sys/mounts/secret/tune", `{"listing_visibility":"hidden","token_type":"service","passthrough_request_headers":[""]}`},
		{"GET", "sys/leader", ""},
		{"TRACE", "x", ""},
		{"PUT", "x", `{"a":[[[[[[`},
	} {
		f.Add(seed.method, seed.path, []byte(seed.body))
	}
	allowed := map[int]bool{200: true, 204: true, 400: true, 403: true, 404: true, 405: true, 413: true}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		// Keep the fuzzer away from audit devices, which write files
		// wherever they are told; and sys/health, whose status the
		// caller chooses.
		if strings.Contains(path, "audit") && method != "GET" || strings.HasPrefix(path, "sys/health") {
			return
		}
		code, out := serve(h, root, method, path, body)
		if !allowed[code] {
			t.Fatalf("%s %q %q: status %d: %s", method, path, body, code, out)
		}
		if len(out) > 0 && !json.Valid(out) {
			t.Fatalf("%s %q: body is not JSON: %q", method, path, out)
		}
	})
}
