package broker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/clocktest"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/time/rate"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/token"
)

// server is a broker served over real HTTP on 127.0.0.1, with a root token
// and an official Vault client logged in with it.
type server struct {
	B      *broker.Broker
	URL    string
	Root   string
	Client *vault.Client
	Clock  *clocktest.Clock
	DB     *store.DB
	Audit  *audit.Log
	// AuditDir is where file audit devices may write.
	AuditDir string
}

type options struct {
	engines map[string]engine.Factory
	backoff time.Duration
	rate    rate.Limit // upstream revocations a second; 0 is the broker's default
}

func start(t testing.TB, db *store.DB, o options) *server {
	t.Helper()
	ctx := context.Background()
	root, err := seal.GenerateRootKeyFile(filepath.Join(t.TempDir(), "root-key"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(ctx, db, root)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Now().UTC().Truncate(time.Second))
	key, err := sl.Secret(ctx, "audit/hmac-key", func() ([]byte, error) { return []byte("0123456789abcdef0123456789abcdef"), nil })
	if err != nil {
		t.Fatal(err)
	}
	al := audit.New(db, key, clk.Now)
	tokens := token.NewStore(db, clk.Now).Cached(time.Hour) // as the daemon wires it
	if o.engines == nil {
		o.engines = allEngines(clk.Now)
	}
	auditDir := t.TempDir()
	b, err := broker.New(ctx, broker.Config{AuditDir: auditDir,
		DB: db, Seal: sl, Audit: al, Tokens: tokens, Engines: o.engines,
		Logger: slog.New(slog.DiscardHandler), Now: clk.Now, Refresh: time.Hour, RevokeBackoff: o.backoff, RevokeRate: o.rate,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	tok, _, err := tokens.Create(ctx, token.Entry{Policies: []string{"root"}, DisplayName: "root"})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{B: b, URL: srv.URL, Root: tok.RevealString(), Clock: clk, DB: db, Audit: al, AuditDir: auditDir}
	s.Client = s.client(t, s.Root)
	return s
}

// client returns an official Vault client for the server using tok.
func (s *server) client(t testing.TB, tok string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = s.URL
	cfg.MaxRetries = 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// raw sends one HTTP request and returns the status and body.
func (s *server) raw(t testing.TB, method, path, tok string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("X-Vault-Token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// policyToken writes a policy and returns a token holding it (and default).
func (s *server) policyToken(t testing.TB, name, hcl string) string {
	t.Helper()
	if err := s.Client.Sys().PutPolicy(name, hcl); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// statusOf returns the HTTP status of a Vault client error (0 if none).
func statusOf(err error) int {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	if err != nil && strings.Contains(err.Error(), "Code: ") {
		return -1
	}
	return 0
}

var _ = secret.Value{}
