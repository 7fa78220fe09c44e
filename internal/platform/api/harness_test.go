package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/api"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Test tokens and the callers the test middleware turns them into; any
// other token is anonymous, as an unknown token never reaches the API.
var callers = map[string]access.Caller{
	"root-token": {Accessor: "acc-root", DisplayName: "root", Policies: []string{"root"}},
	"user-token": {Accessor: "acc-user", DisplayName: "someone", Policies: []string{"default"}},
}

type env struct {
	url    string
	svc    *platform.Service
	db     *store.DB
	tokens *memTokens // what the service issued; they authenticate until revoked
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	root, err := seal.ParseRootKey([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(ctx, db, root)
	if err != nil {
		t.Fatal(err)
	}
	tokens := newMemTokens()
	svc := platform.New(platform.Config{
		DB: db, Seal: sl, Audit: audit.New(db, secret.FromString("audit-key"), nil), Authz: access.RootOnly{},
		Tokens: tokens,
	})
	mux := http.NewServeMux()
	(&api.API{Service: svc, Logger: slog.New(slog.DiscardHandler)}).Mount(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if c, ok := callers[tok]; ok {
			r = r.WithContext(access.WithCaller(r.Context(), c))
		}
		if c, ok := tokens.caller(tok); ok {
			r = r.WithContext(access.WithCaller(r.Context(), c))
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, svc: svc, db: db, tokens: tokens}
}

func (e *env) client(t *testing.T, token string) *tfe.Client {
	t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: e.url, Token: token, RetryServerErrors: false})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rootCtx is what the run engine's calls into the service carry.
func rootCtx() context.Context {
	return access.WithCaller(context.Background(), callers["root-token"])
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// memTokens is platform.Tokens in memory, standing in for the broker: the
// tokens it issues authenticate through the test middleware (as callers
// holding their policies, which RootOnly denies everything) until revoked.
type memTokens struct {
	mu       sync.Mutex
	n        int
	callers  map[string]access.Caller // by token
	policies map[string]string
}

func newMemTokens() *memTokens {
	return &memTokens{callers: map[string]access.Caller{}, policies: map[string]string{}}
}

func (m *memTokens) IssueToken(_ context.Context, req platform.TokenRequest) (platform.IssuedToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(req.Policies, "root") {
		return platform.IssuedToken{}, fail.Invalidf("runcred never issues root tokens")
	}
	m.n++
	tok, acc := fmt.Sprintf("mem-token-%d", m.n), fmt.Sprintf("mem-accessor-%d", m.n)
	m.callers[tok] = access.Caller{Accessor: acc, DisplayName: req.DisplayName, Policies: req.Policies, Meta: req.Meta}
	return platform.IssuedToken{Token: secret.FromString(tok), Accessor: acc}, nil
}

func (m *memTokens) RevokeAccessor(_ context.Context, accessor string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tok, c := range m.callers {
		if c.Accessor == accessor {
			delete(m.callers, tok)
			return nil
		}
	}
	return fail.NotFoundf("no token with accessor %q", accessor)
}

func (m *memTokens) PutPolicy(_ context.Context, name, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies[name] = body
	return nil
}

func (m *memTokens) EnsurePolicy(_ context.Context, name, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.policies[name]; !ok {
		m.policies[name] = body
	}
	return nil
}

func (m *memTokens) DeletePolicy(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.policies, name)
	return nil
}

func (m *memTokens) caller(tok string) (access.Caller, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.callers[tok]
	return c, ok
}

func (m *memTokens) policy(name string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.policies[name]
	return b, ok
}
