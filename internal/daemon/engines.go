package daemon

import (
	"context"
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
		"jwt":     jwt.Factory(jwt.Options{HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: now}),
		"approle": approle.Factory(approle.Options{Now: now, HMACKey: approleKey}),
		"kv":      kv.Factory(kv.Options{Now: now}),
		"aws":     aws.Factory(aws.Options{Now: now}),
	}, nil
}
