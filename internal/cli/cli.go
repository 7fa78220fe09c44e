// Package cli is runcred's command line: the server and dev commands, which
// hand a Config to the daemon, and the client verbs, which talk to a server
// over its HTTP API only.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
)

// Version is set at build time.
var Version = "0.1.0-dev"

// env is the process environment, read only here and in config loading.
type env func(string) string

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(os.Getenv, stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "runcred:", errorText(err))
		if fail.KindOf(err) == fail.Invalid {
			return 2
		}
		return 1
	}
	return 0
}

func errorText(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Error()
	}
	return err.Error()
}

func newRoot(getenv env, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "runcred",
		Short:         "Short-lived, per-run cloud credentials for Terraform and OpenTofu",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.AddCommand(
		serverCmd(getenv, stderr),
		devCmd(getenv, stdout, stderr),
		agentCmd(getenv, stderr),
		identityCmd(getenv, stdout),
		auditCmd(getenv, stdout),
		sealCmd(getenv, stdout),
		workspaceCmd(getenv, stdout),
		varCmd(getenv, stdout),
		runCmd(getenv, stdout),
		stateCmd(getenv, stdout),
		policyCmd(getenv, stdout),
		guardCmd(getenv, stdout),
		mountsCmd(getenv, stdout),
	)
	usageErrorsAreInvalid(root)
	return root
}

// usageErrorsAreInvalid makes cobra's flag and argument errors exit 2, like
// every other bad input.
func usageErrorsAreInvalid(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fail.Invalidf("%s", err.Error()) })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return fail.Invalidf("%s", err.Error())
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		usageErrorsAreInvalid(sub)
	}
}

// newLogger builds the slog logger from --log-format and --log-level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fail.Invalidf("log level %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fail.Invalidf("log format %q is not text or json", format)
}
