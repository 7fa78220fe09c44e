package api_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/api"
	"github.com/runcred/runcred/internal/platform/platformtest"
	"github.com/runcred/runcred/internal/policy"
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
	tokens *platformtest.Tokens // what the service issued; they authenticate until revoked
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
	tokens := platformtest.NewTokens()
	svc := platform.New(platform.Config{
		DB: db, Seal: sl, Audit: audit.New(db, secret.FromString("audit-key"), nil), Authz: access.RootOnly{},
		Tokens: tokens, PolicyEngine: policy.New(policy.Options{}), PolicyKey: secret.FromString("policy-key-policy-key-policy-key-0123"),
	})
	mux := http.NewServeMux()
	(&api.API{Service: svc, Logger: slog.New(slog.DiscardHandler)}).Mount(mux)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if c, ok := callers[tok]; ok {
			r = r.WithContext(access.WithCaller(r.Context(), c))
		}
		if c, ok := tokens.Caller(tok); ok {
			r = r.WithContext(access.WithCaller(r.Context(), c))
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	trustOnce.Do(func() { testClient = srv.Client() })
	return &env{url: srv.URL, svc: svc, db: db, tokens: tokens}
}

// testClient trusts the test servers' certificate, which httptest makes
// the same for every server.
var (
	testClient *http.Client
	trustOnce  sync.Once
)

func (e *env) client(t *testing.T, token string) *tfe.Client {
	t.Helper()
	c, err := tfe.NewClient(&tfe.Config{Address: e.url, Token: token, RetryServerErrors: false, HTTPClient: testClient})
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
