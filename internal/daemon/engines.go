package daemon

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"time"

	"github.com/runcred/runcred/internal/broker/auth/approle"
	"github.com/runcred/runcred/internal/broker/auth/jwt"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/secrets/aws"
	"github.com/runcred/runcred/internal/broker/secrets/kv"
)

// engines builds the auth methods and secrets engines a server offers. The
// AppRole HMAC key is sealed in the store, so every node shares it; secret
// IDs are stored only as HMACs under it.
func (d *Daemon) engines(ctx context.Context) (map[string]engine.Factory, error) {
	approleKey, err := d.Seal.Secret(ctx, "broker/approle-hmac-key", randomBytes(32))
	if err != nil {
		return nil, err
	}
	now := d.cfg.Now
	return map[string]engine.Factory{
		"jwt": jwt.Factory(jwt.Options{HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: now,
			Own: ownIssuer{d}, Phases: runPhases{d}}),
		"approle": approle.Factory(approle.Options{Now: now, HMACKey: approleKey}),
		"kv":      kv.Factory(kv.Options{Now: now}),
		"aws":     aws.Factory(aws.Options{Now: now}),
	}, nil
}

// ownIssuer is the daemon's identity issuer as the jwt method's OwnIssuer:
// runcred's own issuer is the one this server runs, and it alone may name
// a run in a broker token's metadata (its run tokens are minted for a
// run's job, with the subject taken from the run). The issuer is built
// after the broker (it authorizes through the broker's ACL), so it is
// looked up at each login; before it exists, no token is runcred's own.
type ownIssuer struct{ d *Daemon }

func (o ownIssuer) SignsWith(ctx context.Context, pub crypto.PublicKey, iss string) bool {
	return o.d.Issuer != nil && o.d.Issuer.SignsWith(ctx, pub, iss)
}

// runPhases answers the JWT method's question about runcred's run phases
// from the platform, which is built after the engines: until it exists,
// nothing can be told, and a login with a runcred token is refused.
type runPhases struct{ d *Daemon }

func (p runPhases) PhaseRunning(ctx context.Context, runID, phase string) (known, running bool, err error) {
	if p.d.Platform == nil {
		return false, false, errors.New("the platform is not running yet")
	}
	return p.d.Platform.Runs.PhaseRunning(ctx, runID, phase)
}
