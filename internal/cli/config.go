package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

// setting is one server option: a flag, a RUNCRED_* variable (and its _FILE
// twin for secrets), a key in the config file, and a default. Precedence:
// flag, variable, _FILE variable, config file, default.
type setting struct {
	key     string // flag name and config-file key (with '-' → '_')
	usage   string
	def     string
	val     string
	envName string // when the variable is not RUNCRED_<KEY>
}

func (s *setting) env() string {
	if s.envName != "" {
		return s.envName
	}
	return "RUNCRED_" + strings.ToUpper(strings.ReplaceAll(s.key, "-", "_"))
}

type settings []*setting

func (ss settings) find(key string) *setting {
	for _, s := range ss {
		if s.key == key {
			return s
		}
	}
	panic("unknown setting " + key)
}

func (ss settings) get(key string) string { return ss.find(key).val }

func (ss settings) register(cmd *cobra.Command) {
	for _, s := range ss {
		cmd.Flags().StringVar(&s.val, s.key, s.def, s.usage+" ["+s.env()+"]")
	}
}

// resolve fills every setting the flags left unset from the environment and
// the config file (named by --config / RUNCRED_CONFIG).
func (ss settings) resolve(cmd *cobra.Command, getenv env) error {
	file := map[string]string{}
	cfgPath := ss.get("config")
	if !cmd.Flags().Changed("config") && getenv("RUNCRED_CONFIG") != "" {
		cfgPath = getenv("RUNCRED_CONFIG")
	}
	if cfgPath != "" {
		var err error
		if file, err = readConfigFile(cfgPath); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	for _, s := range ss {
		fileKey := strings.ReplaceAll(s.key, "-", "_")
		known[fileKey] = true
		if cmd.Flags().Changed(s.key) {
			continue
		}
		if v := getenv(s.env()); v != "" {
			s.val = v
		} else if p := getenv(s.env() + "_FILE"); p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return fail.Invalidf("%s_FILE: %s", s.env(), err.Error())
			}
			s.val = strings.TrimSpace(string(b))
		} else if v, ok := file[fileKey]; ok {
			s.val = v
		}
	}
	for k := range file {
		if !known[k] {
			return fail.Invalidf("config file %s: unknown setting %q", cfgPath, k)
		}
	}
	return nil
}

// readConfigFile reads an HCL (or JSON) file of flat key = "value" settings.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fail.Invalidf("config file: %s", err.Error())
	}
	var raw map[string]any
	if err := hcl.Unmarshal(b, &raw); err != nil {
		return nil, fail.Invalidf("config file %s: %s", path, err.Error())
	}
	out := map[string]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, int64, float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			return nil, fail.Invalidf("config file %s: %q must be a single value", path, k)
		}
	}
	return out, nil
}

func serverSettings() settings {
	p := identity.DefaultPolicy()
	lim := daemon.DefaultLimits()
	return settings{
		{key: "config", usage: "config file (HCL or JSON) of the settings below"},
		// RUNCRED_ADDR is the clients' server URL (as VAULT_ADDR), so the
		// listen address has its own variable.
		{key: "addr", usage: "listen address", def: "127.0.0.1:8200", envName: "RUNCRED_LISTEN_ADDR"},
		{key: "public-url", usage: "issuer URL, no trailing slash (default http://<addr>, or https:// with TLS)"},
		{key: "tls-cert-file", usage: "PEM certificate chain to serve HTTPS with (TLS 1.2+); re-read when it changes"},
		{key: "tls-key-file", usage: "PEM private key of tls-cert-file"},
		{key: "database", usage: "SQLite file path or postgres:// URL"},
		{key: "root-key-file", usage: "file holding the seal's root key (base64 of 32 bytes)"},
		{key: "root-token-file", usage: "where to write the initial root token on first start"},
		{key: "audit-dir", usage: "the only directory the broker's file audit devices (sys/audit) may write in; none if unset"},
		{key: "log-format", usage: "text or json", def: "text"},
		{key: "log-level", usage: "debug, info, warn or error", def: "info"},
		{key: "key-lifetime", usage: "how long a signing key signs before rotation", def: p.KeyLifetime.String()},
		{key: "publish-lead", usage: "how long a new key is published before it signs", def: p.PublishLead.String()},
		{key: "max-token-ttl", usage: "longest lifetime of a minted token", def: p.MaxTokenTTL.String()},
		{key: "token-ttl", usage: "default lifetime of a minted token", def: "1h"},
		{key: "phase-token-ttl", usage: "lifetime of a run phase's workload-identity tokens (the agent refreshes them; never past the phase's limit)", def: "15m"},
		{key: "refresh-interval", usage: "how often a node re-reads shared state", def: "5s"},
		{key: "rotation-claim", usage: "how long a node holds a mount rotation it works on; another node (or this one restarted) resumes it after", def: "30s"},
		{key: "body-grace", usage: "time a request body may take beyond its size at 16 KiB/s before the connection is cut", def: lim.BodyGrace.String()},
		{key: "idle-timeout", usage: "how long a kept-alive connection may wait for its next request", def: lim.IdleTimeout.String()},
		{key: "body-budget-mib", usage: "MiB of request bodies the server reads at once; more waits, then gets 503", def: strconv.FormatInt(lim.BodyBudget>>20, 10)},
		{key: "unauthenticated-metrics-access", usage: "serve /metrics without a token (otherwise one that may read sys/metrics)", def: "false"},
	}
}

// daemonConfig validates the resolved settings and turns them into a daemon.Config.
func (ss settings) daemonConfig() (daemon.Config, error) {
	cfg := daemon.Config{
		Addr: ss.get("addr"), PublicURL: ss.get("public-url"), Database: ss.get("database"),
		RootKeyFile: ss.get("root-key-file"), RootTokenFile: ss.get("root-token-file"),
		AuditDir: ss.get("audit-dir"), Identity: identity.DefaultPolicy(),
		TLSCertFile: ss.get("tls-cert-file"), TLSKeyFile: ss.get("tls-key-file"),
	}
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"key-lifetime", &cfg.Identity.KeyLifetime}, {"publish-lead", &cfg.Identity.PublishLead},
		{"max-token-ttl", &cfg.Identity.MaxTokenTTL}, {"token-ttl", &cfg.TokenTTL}, {"phase-token-ttl", &cfg.PhaseTokenTTL},
		{"refresh-interval", &cfg.Refresh}, {"rotation-claim", &cfg.RotationClaim}, {"body-grace", &cfg.Limits.BodyGrace}, {"idle-timeout", &cfg.Limits.IdleTimeout},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(ss.get(d.key))
		if err != nil || v <= 0 {
			return cfg, fail.Invalidf("%s: %q is not a positive duration such as 90s or 24h", d.key, ss.get(d.key))
		}
		*d.dst = v
	}
	open, err := strconv.ParseBool(ss.get("unauthenticated-metrics-access"))
	if err != nil {
		return cfg, fail.Invalidf("unauthenticated-metrics-access: %q is not true or false", ss.get("unauthenticated-metrics-access"))
	}
	cfg.UnauthenticatedMetrics = open
	mib, err := strconv.ParseInt(ss.get("body-budget-mib"), 10, 64)
	if err != nil || mib < 1 || mib > 1<<20 {
		return cfg, fail.Invalidf("body-budget-mib: %q is not a whole number of MiB from 1 to 1048576", ss.get("body-budget-mib"))
	}
	cfg.Limits.BodyBudget = mib << 20
	if err := cfg.Validate(); err != nil {
		return cfg, fail.Wrap(fail.Invalid, nil, err.Error())
	}
	return cfg, nil
}
