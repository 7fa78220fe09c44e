package identity_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/identity"
)

// TestConfigValidate: the default policy is valid, and each bound is
// inclusive where a value may meet it and refused one step past it.
func TestConfigValidate(t *testing.T) {
	base := identity.Config{Issuer: "https://id.example", Policy: identity.DefaultPolicy(), DefaultTokenTTL: time.Hour, RefreshInterval: 10 * time.Second}
	if p := identity.DefaultPolicy(); p.KeyLifetime != 7*24*time.Hour || p.PublishLead != 10*time.Minute ||
		p.MaxTokenTTL != 2*time.Hour || p.Leeway != 5*time.Minute || p.KeyBits != 2048 {
		t.Fatalf("default policy %+v", p)
	}
	if got := base.JWKSMaxAge(); got != 10*time.Minute-20*time.Second {
		t.Fatalf("JWKSMaxAge = %s", got)
	}
	for _, c := range []struct {
		name   string
		change func(*identity.Config)
		err    string // "" when valid
	}{
		{"default", func(*identity.Config) {}, ""},
		{"http for local testing", func(c *identity.Config) { c.Issuer = "http://127.0.0.1:8200" }, ""},
		{"no issuer", func(c *identity.Config) { c.Issuer = "" }, "must be set"},
		{"trailing slash", func(c *identity.Config) { c.Issuer += "/" }, "no trailing slash"},
		{"not http", func(c *identity.Config) { c.Issuer = "ftp://id.example" }, "must start with https://"},
		{"2047-bit keys", func(c *identity.Config) { c.KeyBits = 2047 }, "at least 2048 bits"},
		{"default ttl at the max", func(c *identity.Config) { c.DefaultTokenTTL = c.MaxTokenTTL }, ""},
		{"default ttl over the max", func(c *identity.Config) { c.DefaultTokenTTL = c.MaxTokenTTL + time.Second }, "token TTLs"},
		{"no default ttl", func(c *identity.Config) { c.DefaultTokenTTL = 0 }, "token TTLs"},
		{"no max ttl", func(c *identity.Config) { c.MaxTokenTTL, c.DefaultTokenTTL = 0, 0 }, "token TTLs"},
		{"no refresh", func(c *identity.Config) { c.RefreshInterval = 0 }, "publish lead"},
		{"lead just over two refreshes", func(c *identity.Config) { c.PublishLead = 2*c.RefreshInterval + time.Nanosecond }, ""},
		{"lead of two refreshes", func(c *identity.Config) { c.PublishLead = 2 * c.RefreshInterval }, "publish lead"},
		{"lifetime of one lead", func(c *identity.Config) { c.KeyLifetime = c.PublishLead }, ""},
		{"lifetime under the lead", func(c *identity.Config) { c.KeyLifetime = c.PublishLead - time.Second }, "key lifetime"},
	} {
		cfg := base
		c.change(&cfg)
		err := cfg.Validate()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
}
