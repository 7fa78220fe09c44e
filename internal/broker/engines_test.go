package broker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/broker/auth/approle"
	"github.com/runcred/runcred/internal/broker/auth/jwt"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/secrets/aws"
	"github.com/runcred/runcred/internal/broker/secrets/kv"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// leaseEngine is a test secrets engine whose secrets have leases, whose
// revocation can be made to fail, and which records what it revoked.
type leaseEngine struct {
	mu      sync.Mutex
	revoked []string
	failing map[string]bool
}

var testLeases = &leaseEngine{failing: map[string]bool{}}

func (e *leaseEngine) factory(ctx context.Context, conf engine.MountConfig) (engine.Backend, error) {
	return e, nil
}

func (e *leaseEngine) Routes() *engine.Routes {
	return engine.NewRoutes(engine.Route[engine.Handler]{Path: engine.Path{Pattern: "creds/*"},
		Operations: engine.Every[engine.Handler](e.creds)})
}

func (e *leaseEngine) creds(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	name := strings.TrimPrefix(req.Path, "creds/")
	if name == "" {
		return nil, fail.NotFoundf("no handler for route %q. route entry not found.", req.MountPath+req.Path)
	}
	f := engine.Fields(req.Data)
	ttl, _, err := f.Duration("ttl")
	if err != nil {
		return nil, err
	}
	data := map[string]any{"value": "secret-" + name}
	if req.Token != nil {
		data["run"] = req.Token.Meta["terraform_run_id"]
	}
	return &engine.Response{Data: data, Secret: &engine.Secret{TTL: ttl, Renewable: true, Internal: map[string]any{"name": name}}}, nil
}

func (e *leaseEngine) Revoke(ctx context.Context, l engine.Lease) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failing[l.Internal["name"].(string)] {
		return errors.New("upstream refused revocation")
	}
	e.revoked = append(e.revoked, l.ID)
	return nil
}

func (e *leaseEngine) Renew(ctx context.Context, l engine.Lease, inc time.Duration) (time.Duration, error) {
	if inc == 0 {
		inc = time.Hour
	}
	return inc, nil
}

func (e *leaseEngine) setFailing(name string, v bool) {
	e.mu.Lock()
	e.failing[name] = v
	e.mu.Unlock()
}

func (e *leaseEngine) wasRevoked(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.revoked {
		if r == id {
			return true
		}
	}
	return false
}

// allEngines is every engine the server offers, plus the test engine.
func allEngines(now func() time.Time) map[string]engine.Factory {
	return map[string]engine.Factory{
		"leasetest": testLeases.factory,
		"jwt":       jwt.Factory(jwt.Options{Now: now}),
		"approle":   approle.Factory(approle.Options{Now: now, HMACKey: secret.FromString("0123456789abcdef0123456789abcdef")}),
		"kv":        kv.Factory(kv.Options{Now: now}),
		"aws":       aws.Factory(aws.Options{Now: now}),
	}
}
