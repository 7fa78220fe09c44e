// Package platformtest gives the platform's tests what they share: a token
// issuer without a broker, an authorizer of listed grants, the callers the
// tests act as, and the whole platform wired on a test's own database with
// the organizations and workspaces the domains' tests start from.
package platformtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/secret"
)

// Tokens is resource.Tokens in memory, standing in for the broker: the
// tokens it issues name their callers until revoked, and it keeps the
// policies it is given. Like the broker, it never issues root tokens.
type Tokens struct {
	mu       sync.Mutex
	n        int
	callers  map[string]access.Caller // by token
	policies map[string]string
	failing  map[string]bool // accessors whose revocation fails
}

// NewTokens returns an empty issuer.
func NewTokens() *Tokens {
	return &Tokens{callers: map[string]access.Caller{}, policies: map[string]string{}, failing: map[string]bool{}}
}

// FailRevoke makes revoking accessor fail (on) or work again (off), as a
// broker that cannot be reached would.
func (m *Tokens) FailRevoke(accessor string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing[accessor] = on
}

func (m *Tokens) IssueToken(_ context.Context, req resource.TokenRequest) (resource.IssuedToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(req.Policies, "root") {
		return resource.IssuedToken{}, fail.Invalidf("runcred never issues root tokens")
	}
	m.n++
	tok, acc := fmt.Sprintf("mem-token-%d", m.n), fmt.Sprintf("mem-accessor-%d", m.n)
	m.callers[tok] = access.Caller{Accessor: acc, DisplayName: req.DisplayName, Policies: req.Policies, Meta: req.Meta}
	return resource.IssuedToken{Token: secret.FromString(tok), Accessor: acc}, nil
}

func (m *Tokens) RevokeAccessor(_ context.Context, accessor string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing[accessor] {
		return fail.Unavailablef("the broker is unavailable")
	}
	for tok, c := range m.callers {
		if c.Accessor == accessor {
			delete(m.callers, tok)
			return nil
		}
	}
	return fail.NotFoundf("no token with accessor %q", accessor)
}

func (m *Tokens) PutPolicy(_ context.Context, name, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies[name] = body
	return nil
}

func (m *Tokens) EnsurePolicy(_ context.Context, name, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.policies[name]; !ok {
		m.policies[name] = body
	}
	return nil
}

func (m *Tokens) DeletePolicy(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.policies, name)
	return nil
}

// Caller is who tok names, if it was issued and is not revoked.
func (m *Tokens) Caller(tok string) (access.Caller, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.callers[tok]
	return c, ok
}

// Policy is the policy called name, if it exists.
func (m *Tokens) Policy(name string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.policies[name]
	return b, ok
}

// Issued returns who tok names; the test fails if it is not live.
func (m *Tokens) Issued(t testing.TB, tok secret.Value) access.Caller {
	t.Helper()
	c, ok := m.Caller(tok.RevealString())
	if !ok {
		t.Fatalf("token was not issued or is revoked")
	}
	return c
}

// Live reports whether tok was issued and is not revoked.
func (m *Tokens) Live(tok secret.Value) bool {
	_, ok := m.Caller(tok.RevealString())
	return ok
}
