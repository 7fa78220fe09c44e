package cli

import (
	"errors"
	"io"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
)

func stateCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Read workspace state"}
	newClient := tfeFlags(cmd, getenv)
	pull := &cobra.Command{
		Use:   "pull ORG/NAME",
		Short: "Write the workspace's current state to stdout (it may hold secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, ref, ws, err := workspaceArg(ctx, newClient, args[0])
			if err != nil {
				return err
			}
			sv, err := c.api.StateVersions.ReadCurrent(ctx, ws.ID)
			if errors.Is(err, tfe.ErrResourceNotFound) {
				return fail.NotFoundf("workspace %s has no state yet, or the token may not read it", ref)
			}
			if err != nil {
				return explain(err, "state of workspace "+ref.String())
			}
			state, err := c.api.StateVersions.Download(ctx, sv.DownloadURL)
			if err != nil {
				return explain(err, "state version "+sv.ID)
			}
			_, err = stdout.Write(state)
			return err
		},
	}
	cmd.AddCommand(pull)
	return cmd
}
