package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// Storage keys, as Vault names them.
const (
	rootKey  = "config/root"
	leaseKey = "config/lease"
)

// defaultUsernameTemplate is Vault's; config/root reads it back when none
// was set, and generated names follow it whatever is set.
const defaultUsernameTemplate = `{{ if (eq .Type "STS") }}{{ printf "vault-%s-%s" (unix_time) (random 20) | truncate 32 }}{{ else }}{{ printf "vault-%s-%s-%s" (printf "%s-%s" (.DisplayName) (.PolicyName) | truncate 42) (unix_time) (random 20) | truncate 64 }}{{ end }}`

// maxRetriesLimit bounds max_retries: each retry of a failing STS holds a
// request open for a growing backoff.
const maxRetriesLimit = 100

// rootConfig is config/root in memory; the secret key stays typed.
type rootConfig struct {
	AccessKey        string
	SecretKey        secret.Value
	Region           string
	IAMEndpoint      string
	STSEndpoint      string
	STSRegion        string
	MaxRetries       int
	UsernameTemplate string
}

// storedRoot is config/root in storage, which the core seals.
type storedRoot struct {
	AccessKey        string `json:"access_key"`
	SecretKey        string `json:"secret_key"`
	Region           string `json:"region"`
	IAMEndpoint      string `json:"iam_endpoint"`
	STSEndpoint      string `json:"sts_endpoint"`
	STSRegion        string `json:"sts_region"`
	MaxRetries       int    `json:"max_retries"`
	UsernameTemplate string `json:"username_template"`
}

var rootFields = []string{"access_key", "secret_key", "region", "iam_endpoint", "sts_endpoint",
	"sts_region", "max_retries", "username_template"}

// writeRoot replaces config/root, as Vault does: fields left out are reset.
// The keys are not tried; a bad key shows on the first creds request.
func (b *Backend) writeRoot(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	var s storedRoot
	for _, field := range []struct {
		name string
		dst  *string
	}{
		{"access_key", &s.AccessKey}, {"secret_key", &s.SecretKey}, {"region", &s.Region},
		{"iam_endpoint", &s.IAMEndpoint}, {"sts_endpoint", &s.STSEndpoint}, {"sts_region", &s.STSRegion},
		{"username_template", &s.UsernameTemplate},
	} {
		v, _, err := f.String(field.name)
		if err != nil {
			return nil, err
		}
		*field.dst = v
	}
	s.MaxRetries = -1
	if v, ok, err := f.Int("max_retries"); err != nil {
		return nil, err
	} else if ok {
		s.MaxRetries = v
	}
	if s.MaxRetries < -1 || s.MaxRetries > maxRetriesLimit {
		return nil, fail.Invalidf("max_retries must be between -1 and %d", maxRetriesLimit)
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		return nil, fail.Invalidf("access_key and secret_key must be given together")
	}
	if err := checkEndpoint("iam_endpoint", s.IAMEndpoint); err != nil {
		return nil, err
	}
	if err := checkEndpoint("sts_endpoint", s.STSEndpoint); err != nil {
		return nil, err
	}
	warnings := unknownWarning(f, rootFields...)
	if s.UsernameTemplate != "" && s.UsernameTemplate != defaultUsernameTemplate {
		warnings = append(warnings, "username_template is stored but not used: runcred names sessions after Vault's default template, or after the Terraform run")
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, rootKey, raw); err != nil {
		return nil, err
	}
	return warningsOnly(warnings), nil
}

// checkEndpoint accepts an empty endpoint or an absolute http(s) URL; a
// typo here would otherwise surface as a confusing transport error later.
func checkEndpoint(name, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fail.Invalidf("%s must be an http or https URL", name)
	}
	return nil
}

// readRoot returns config/root without the secret key.
func (b *Backend) readRoot(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	c, err := loadRoot(ctx, req.Storage)
	if err != nil || c == nil {
		return nil, err
	}
	tmpl := c.UsernameTemplate
	if tmpl == "" {
		tmpl = defaultUsernameTemplate
	}
	return &engine.Response{Data: map[string]any{
		"access_key":        c.AccessKey,
		"region":            c.Region,
		"iam_endpoint":      c.IAMEndpoint,
		"sts_endpoint":      c.STSEndpoint,
		"sts_region":        c.STSRegion,
		"max_retries":       c.MaxRetries,
		"username_template": tmpl,
	}}, nil
}

// loadRoot returns config/root, nil if never written.
func loadRoot(ctx context.Context, st engine.Storage) (*rootConfig, error) {
	raw, err := st.Get(ctx, rootKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var s storedRoot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("aws: decoding %s: %w", rootKey, err)
	}
	return &rootConfig{
		AccessKey: s.AccessKey, SecretKey: secret.FromString(s.SecretKey), Region: s.Region,
		IAMEndpoint: s.IAMEndpoint, STSEndpoint: s.STSEndpoint, STSRegion: s.STSRegion,
		MaxRetries: s.MaxRetries, UsernameTemplate: s.UsernameTemplate,
	}, nil
}

// leaseConfig is config/lease. It governs iam_user leases only, which
// runcred does not issue; it is kept so configurations written for Vault
// apply unchanged.
type leaseConfig struct {
	Lease    time.Duration `json:"lease"`
	LeaseMax time.Duration `json:"lease_max"`
}

func (b *Backend) writeLease(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	f := engine.Fields(req.Data)
	var c leaseConfig
	for _, field := range []struct {
		name string
		dst  *time.Duration
	}{{"lease", &c.Lease}, {"lease_max", &c.LeaseMax}} {
		d, ok, err := f.Duration(field.name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fail.Invalidf("'%s' is a required parameter", field.name)
		}
		if d < 0 {
			return nil, fail.Invalidf("Invalid %s: must not be negative", field.name)
		}
		*field.dst = d
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, leaseKey, raw); err != nil {
		return nil, err
	}
	return warningsOnly(unknownWarning(f, "lease", "lease_max")), nil
}

func (b *Backend) readLease(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	raw, err := req.Storage.Get(ctx, leaseKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var c leaseConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("aws: decoding %s: %w", leaseKey, err)
	}
	return &engine.Response{Data: map[string]any{
		"lease":     c.Lease.String(),
		"lease_max": c.LeaseMax.String(),
	}}, nil
}

// warningsOnly is a response carrying only warnings, or none (204).
func warningsOnly(w []string) *engine.Response {
	if len(w) == 0 {
		return nil
	}
	return &engine.Response{Warnings: w}
}
