package daemon_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/secret"
)

// BenchmarkMintParts times the pieces of an HTTP mint on their own, to show
// where the time goes beyond the signature.
func BenchmarkMintParts(b *testing.B) {
	n := startNode(b, nil)
	ctx := access.WithCaller(context.Background(), access.Caller{Policies: []string{"root"}})
	r := identity.MintRequest{Subject: identity.Subject{Organization: "demo", Project: "Default Project", Workspace: "ws1", RunID: "run-b1", Phase: "plan"}, Audience: "a"}
	b.Run("mint-direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := n.d.Issuer.Mint(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http-healthz", func(b *testing.B) {
		for b.Loop() {
			resp, err := http.Get(n.d.URL() + "/healthz")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("audit-append", func(b *testing.B) {
		for b.Loop() {
			if _, err := n.d.Audit.Append(ctx, "x.y", map[string]any{"a": 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token-lookup", func(b *testing.B) {
		tok := secret.FromString(n.token)
		for b.Loop() {
			if _, err := n.d.Tokens.Lookup(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
