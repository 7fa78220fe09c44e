package platformtest

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/clocktest"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/platform/organization"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/policy"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
)

// Platform is every domain wired on a test's database, authorizing by
// Grants and issuing tokens through Tokens.
type Platform struct {
	Svc    *platform.Service
	Bare   *platform.Service // the same, without a token issuer
	Config platform.Config   // what Svc was made with
	DB     *store.DB
	Grants Grants
	Tokens *Tokens
}

// New returns a Platform on db with no organization yet; now is its time
// source, nil for the real time.
func New(t testing.TB, db *store.DB, now func() time.Time) *Platform {
	t.Helper()
	rk, err := seal.ParseRootKey([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(context.Background(), db, rk)
	if err != nil {
		t.Fatal(err)
	}
	p := &Platform{DB: db, Grants: Grants{}, Tokens: NewTokens()}
	p.Config = platform.Config{DB: db, Seal: sl, Audit: audit.New(db, secret.FromString("k"), nil), Authz: p.Grants, Now: now,
		PolicyEngine: policy.New(policy.Options{}), PolicyKey: secret.FromString("0123456789abcdef0123456789abcdef-policy")}
	p.Bare = platform.New(p.Config)
	p.Config.Tokens = p.Tokens
	p.Svc = platform.New(p.Config)
	return p
}

// Operator is a Platform with organization acme and two of its
// workspaces, on a clock that moves only when told.
type Operator struct {
	*Platform
	Target workspace.Workspace // the operator workspace
	Mgr    workspace.Workspace // the manager workspace
	Clock  *clocktest.Clock    // the service's; starts at the real time
}

// NewOperator returns an Operator on db.
func NewOperator(t testing.TB, db *store.DB) *Operator {
	t.Helper()
	clock := clocktest.New(time.Now())
	f := &Operator{Platform: New(t, db, clock.Now), Clock: clock}
	f.org(t, "acme")
	f.Target = f.workspace(t, "acme", "operator")
	f.Mgr = f.workspace(t, "acme", "manager")
	return f
}

// Apps is a Platform on the real time with organizations acme and other,
// each with a workspace "app".
type Apps struct {
	*Platform
	App      workspace.Workspace // in acme
	OtherApp workspace.Workspace // in other
}

// NewApps returns an Apps on db.
func NewApps(t testing.TB, db *store.DB) *Apps {
	t.Helper()
	f := &Apps{Platform: New(t, db, nil)}
	for _, org := range []string{"acme", "other"} {
		f.org(t, org)
	}
	f.App = f.workspace(t, "acme", "app")
	f.OtherApp = f.workspace(t, "other", "app")
	return f
}

func (p *Platform) org(t testing.TB, name string) {
	t.Helper()
	if _, err := p.Svc.Organizations.Create(As(Root), organization.Options{Name: name, Email: "a@" + name + ".test"}); err != nil {
		t.Fatal(err)
	}
}

func (p *Platform) workspace(t testing.TB, org, name string) workspace.Workspace {
	t.Helper()
	w, err := p.Svc.Workspaces.Create(As(Root), org, workspace.Options{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
