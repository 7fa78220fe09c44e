package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

// agentFlags are the settings of an agent, standalone or inside dev.
type agentFlags struct {
	tofu, mirror, hooks, workDir, pool string
	concurrency                        int
	isolation                          string
	runUID, runGID                     int
}

func (f *agentFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.tofu, "tofu", "", "OpenTofu (or Terraform) binary for runs (default: tofu on PATH)")
	cmd.Flags().StringVar(&f.mirror, "provider-mirror", "", "filesystem provider mirror for runs (default: the registries)")
	cmd.Flags().StringVar(&f.hooks, "hooks-dir", "", "directory of agent hooks (terraform-pre-plan, …)")
	cmd.Flags().StringVar(&f.workDir, "work-dir", "", "where run directories are made (default: the system's temp dir)")
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 1, "phases run at once (each in its own sandbox: see README)")
	cmd.Flags().StringVar(&f.isolation, "isolation", "sandbox", "sandbox (each phase in a bubblewrap sandbox) or none (phases see the agent's host; env RUNCRED_ISOLATION)")
	cmd.Flags().IntVar(&f.runUID, "run-uid", phase.NobodyID, "uid of the phases' processes when the agent runs as root (0: 65534)")
	cmd.Flags().IntVar(&f.runGID, "run-gid", phase.NobodyID, "gid of the phases' processes when the agent runs as root (0: 65534)")
}

// resolve takes the isolation from RUNCRED_ISOLATION unless the flag is given.
func (f *agentFlags) resolve(cmd *cobra.Command, getenv env) {
	if v := getenv("RUNCRED_ISOLATION"); v != "" && !cmd.Flags().Changed("isolation") {
		f.isolation = v
	}
}

// config turns the flags into an agent configuration.
func (f *agentFlags) config(server string, token secret.Value, log *slog.Logger) (agent.Config, error) {
	bin := f.tofu
	if bin == "" {
		p, err := exec.LookPath("tofu")
		if err != nil {
			return agent.Config{}, fail.Invalidf("no OpenTofu binary: pass --tofu or put tofu on PATH")
		}
		bin = p
	}
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	var err error
	cfg := agent.Config{Server: server, Token: token, Pool: f.pool, Logger: log, Concurrency: f.concurrency,
		Isolation: agent.Isolation(f.isolation), RunUID: f.runUID, RunGID: f.runGID}
	for _, p := range []struct {
		dst *string
		src string
	}{
		{&cfg.Binary, bin}, {&cfg.ProviderMirror, f.mirror}, {&cfg.HooksDir, f.hooks}, {&cfg.WorkDir, f.workDir},
	} {
		if *p.dst, err = abs(p.src); err != nil {
			return agent.Config{}, err
		}
	}
	if f.concurrency < 1 || f.concurrency > 64 {
		return agent.Config{}, fail.Invalidf("--concurrency must be 1 to 64, not %s", strconv.Itoa(f.concurrency))
	}
	switch cfg.Isolation {
	case "", agent.IsolationSandbox, agent.IsolationNone:
	default:
		return agent.Config{}, fail.Invalidf("--isolation must be sandbox or none, not %q", f.isolation)
	}
	if f.runUID < 0 || f.runGID < 0 {
		return agent.Config{}, fail.Invalidf("--run-uid and --run-gid must be positive (0: 65534; a run never runs as root)")
	}
	return cfg, nil
}

func agentCmd(getenv env, stderr io.Writer) *cobra.Command {
	var f agentFlags
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the jobs of a runcred server's workspaces (plans and applies)",
		Long: `Claims the plans and applies of workspaces in an agent pool (or, without
--pool, of workspaces that have none) with an agent token, and runs each in a
fresh run directory with exactly the credentials its variables ask for.`,
		Args: cobra.NoArgs,
	}
	newClient := clientFlags(cmd, getenv)
	cmd.Flags().StringVar(&f.pool, "pool", "", "agent pool id (apool-…); default: workspaces without a pool")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newClient()
		if err != nil {
			return err
		}
		if c.token == "" {
			if c.token = getenv("RUNCRED_AGENT_TOKEN"); c.token == "" {
				return fail.Invalidf("an agent token is required: --token, RUNCRED_TOKEN or RUNCRED_AGENT_TOKEN")
			}
		}
		log, err := newLogger(stderr, logFormat, logLevel)
		if err != nil {
			return err
		}
		f.resolve(cmd, getenv)
		cfg, err := f.config(c.addr, secret.FromString(c.token), log)
		if err != nil {
			return err
		}
		if cfg.HTTPClient, err = httpClient(c.caFile, agentHTTPTimeout); err != nil {
			return err
		}
		return runAgent(cmd.Context(), cfg)
	}
	return cmd
}

func runAgent(ctx context.Context, cfg agent.Config) error {
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	if err := agent.Harden(); err != nil {
		return fmt.Errorf("making the agent's process undumpable: %w", err)
	}
	cfg.Logger.Info("runcred agent running", "server", cfg.Server, "pool", cfg.Pool, "binary", cfg.Binary)
	return a.Run(ctx)
}

// agentHTTPTimeout bounds each of the agent's requests to runcred; it
// exceeds the longest claim wait.
const agentHTTPTimeout = 60 * time.Second

// devAgentTTL bounds the in-process agent's token; dev restarts mint anew.
const devAgentTTL = 24 * time.Hour

// devAgentStop bounds how long dev waits for its agent to report the
// phases Ctrl-C interrupted.
const devAgentStop = 2 * time.Minute
