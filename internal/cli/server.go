package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/localca"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/secret"
)

func serverCmd(getenv env, stderr io.Writer) *cobra.Command {
	ss := serverSettings()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a runcred server (production)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ss.resolve(cmd, getenv); err != nil {
				return err
			}
			cfg, err := ss.daemonConfig()
			if err != nil {
				return err
			}
			if cfg.Logger, err = newLogger(stderr, ss.get("log-format"), ss.get("log-level")); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, nil)
		},
	}
	ss.register(cmd)
	return cmd
}

// serve runs a daemon until ctx ends (Ctrl-C), then shuts it down cleanly.
// started may start companions (dev's agent); the wait it returns is called
// before the daemon stops serving, so they can report to it first.
func serve(ctx context.Context, cfg daemon.Config, started func(*daemon.Daemon) (wait func())) error {
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	cfg.Logger.Info("runcred listening", "addr", d.URL(), "issuer", d.PublicURL(), "database", d.DB().String())
	wait := func() {}
	if started != nil {
		if w := started(d); w != nil {
			wait = w
		}
	}
	err = d.Start(ctx)
	cfg.Logger.Info("runcred shutting down")
	wait()
	return err
}

func devCmd(getenv env, stdout, stderr io.Writer) *cobra.Command {
	ss := serverSettings()
	var dataDir string
	var af agentFlags
	var noAgent, useTLS bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything in one process on an embedded SQLite store (development only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ss.resolve(cmd, getenv); err != nil {
				return err
			}
			if dataDir == "" {
				return fail.Invalidf("--data-dir is required")
			}
			dir, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			for key, def := range map[string]string{
				"database": filepath.Join(dir, "runcred.db"), "root-key-file": filepath.Join(dir, "root-key"),
				"root-token-file": filepath.Join(dir, "root-token"), "audit-dir": filepath.Join(dir, "audit"),
			} {
				if s := ss.find(key); !cmd.Flags().Changed(key) && s.val == "" {
					s.val = def
				}
			}
			var ca string
			if useTLS {
				if ca, err = devTLS(ss, dir); err != nil {
					return err
				}
			}
			cfg, err := ss.daemonConfig()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.AuditDir, 0o700); err != nil {
				return err
			}
			cfg.DevRootToken = true
			if cfg.Logger, err = newLogger(stderr, ss.get("log-format"), ss.get("log-level")); err != nil {
				return err
			}
			if _, err := os.Stat(cfg.RootKeyFile); errors.Is(err, os.ErrNotExist) {
				if _, err := seal.GenerateRootKeyFile(cfg.RootKeyFile); err != nil {
					return err
				}
				cfg.Logger.Warn("generated a root key next to the data it protects; this is for development only", "file", cfg.RootKeyFile)
			}
			var acfg agent.Config
			if !noAgent {
				if _, lerr := exec.LookPath("tofu"); af.tofu == "" && lerr != nil {
					cfg.Logger.Warn("no tofu on PATH and no --tofu: runs will wait for an agent")
					noAgent = true
				} else {
					af.resolve(cmd, getenv)
					if acfg, err = af.config("", secret.Value{}, cfg.Logger.With("component", "agent")); err != nil {
						return err
					}
					if acfg.HTTPClient, err = httpClient(ca, agentHTTPTimeout); err != nil {
						return err
					}
					// Refuse to start rather than serve runs that could
					// read the data directory.
					if err := agent.CheckIsolation(acfg); err != nil {
						return err
					}
				}
			}
			return serve(cmd.Context(), cfg, func(d *daemon.Daemon) (wait func()) {
				if !noAgent {
					wait = startDevAgent(cmd.Context(), d, acfg, cfg.RootTokenFile)
				}
				fmt.Fprintf(stdout, "runcred dev is running.\n\n  API:        %s\n  Issuer:     %s\n  Root token: %s\n\n",
					d.URL(), d.PublicURL(), cfg.RootTokenFile)
				if ca != "" {
					printTrust(stdout, ca)
				}
				cacert := ""
				if ca != "" {
					cacert = " RUNCRED_CACERT=" + ca
				}
				fmt.Fprintf(stdout, "Try:\n  export RUNCRED_ADDR=%s RUNCRED_TOKEN=$(cat %s)%s\n  runcred identity mint --org demo --project 'Default Project' --workspace ws1 --run run-demo1 --phase plan --audience aws.workload.identity\n\nCtrl-C stops it.\n",
					d.URL(), cfg.RootTokenFile, cacert)
				return wait
			})
		},
	}
	// Development defaults: rotation can be forced half a minute after start.
	ss.find("publish-lead").def = "30s"
	ss.find("refresh-interval").def = "2s"
	ss.register(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for the SQLite store, root key and root token (created if missing)")
	cmd.Flags().BoolVar(&noAgent, "no-agent", false, "do not run workspaces' plans and applies in this process")
	cmd.Flags().BoolVar(&useTLS, "tls", false, "serve HTTPS with a certificate for localhost and 127.0.0.1 from a CA kept in the data dir's tls/ (made on first use)")
	af.register(cmd)
	return cmd
}

// devTLS points the TLS settings at a certificate for localhost and
// 127.0.0.1 from the CA in dir/tls (both made or renewed as needed; the CA
// is kept, so what trusts it keeps working across restarts) and returns
// the CA's file.
func devTLS(ss settings, dir string) (string, error) {
	if ss.get("tls-cert-file") != "" || ss.get("tls-key-file") != "" {
		return "", fail.Invalidf("--tls makes its own certificate; to serve yours, pass --tls-cert-file and --tls-key-file without --tls")
	}
	f, err := localca.Ensure(filepath.Join(dir, "tls"), time.Now(), "localhost", "127.0.0.1")
	if err != nil {
		return "", fmt.Errorf("making the development CA and certificate: %w", err)
	}
	ss.find("tls-cert-file").val, ss.find("tls-key-file").val = f.Cert, f.Key
	return f.CA, nil
}

// printTrust says how each kind of client comes to trust dev's CA.
func printTrust(w io.Writer, ca string) {
	fmt.Fprintf(w, `HTTPS: the certificate is signed by a CA made for this data dir: %s
Trust it (each of these replaces the system's CAs for that client):
  export RUNCRED_CACERT=%[1]s   # the runcred CLI and agent (or --ca-cert)
  export SSL_CERT_FILE=%[1]s    # OpenTofu, curl, Go programs on Linux
  export VAULT_CACERT=%[1]s     # the vault and bao CLIs, terraform-provider-vault
  export AWS_CA_BUNDLE=%[1]s    # the AWS CLI and SDKs
A workspace whose runs log in to this broker sets TFC_VAULT_ENCODED_CACERT to
the output of: base64 -w0 %[1]s

`, ca)
}

// startDevAgent runs an agent for workspaces without a pool inside dev,
// with a token of its own, until ctx ends. The server's root token, which
// this process holds too, is masked in every run's log.
func startDevAgent(ctx context.Context, d *daemon.Daemon, cfg agent.Config, rootTokenFile string) (wait func()) {
	tok, err := d.DefaultAgentToken(ctx, devAgentTTL)
	if err != nil {
		cfg.Logger.Error("the in-process agent could not get a token; runs will wait for an agent", "err", err)
		return nil
	}
	cfg.Server, cfg.Token = d.URL(), tok
	if b, err := os.ReadFile(rootTokenFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
		cfg.Secrets = append(cfg.Secrets, secret.FromString(string(bytes.TrimSpace(b))))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runAgent(ctx, cfg); err != nil {
			cfg.Logger.Error("the in-process agent stopped", "err", err)
		}
	}()
	// On Ctrl-C the agent interrupts its phases and reports them (an
	// apply's state included) while the server still serves.
	return func() {
		select {
		case <-done:
		case <-time.After(devAgentStop):
			cfg.Logger.Error("the in-process agent did not stop in time", "waited", devAgentStop)
		}
	}
}
