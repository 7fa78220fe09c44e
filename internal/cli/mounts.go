package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/platform/rotation"
)

func mountsCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "mounts", Short: "Rotate the paths of the broker's kv mounts"}
	newClient := clientFlags(cmd, getenv)
	rotate := &cobra.Command{
		Use:   "rotate <mount>",
		Short: "Move a kv mount to a path with a fresh random suffix, and everything that names it with it",
		Long: `Creates a mount with a fresh random suffix, copies every key (all versions, with
metadata), rewrites every ACL policy and workspace variable naming the old path,
queues a run in each workspace holding it, revokes the old mount's leases and
removes the old mount. Needs update on sys/mounts/<mount>/rotate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var r rotation.Rotation
			if err := c.do(cmd.Context(), "POST", "/api/runcred/v1/mounts/"+mountArg(args[0])+"/rotate", nil, &r); err != nil {
				return err
			}
			printRotation(stdout, r)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "rotations <mount>",
		Short: "Show a mount's latest rotations, from or to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res struct{ Rotations []rotation.Rotation }
			if err := c.do(cmd.Context(), "GET", "/api/runcred/v1/mounts/"+mountArg(args[0])+"/rotations", nil, &res); err != nil {
				return err
			}
			for _, r := range res.Rotations {
				fmt.Fprintf(stdout, "%s  %s  %s -> %s  %s  %s\n", r.ID, stamp(r.CreatedAt), r.Mount, r.NewPath, r.State, r.Error)
			}
			return nil
		},
	}
	schedule := &cobra.Command{
		Use:   "schedule <mount> [period]",
		Short: "Show or set how often the server rotates a mount (e.g. 720h; 0s removes it)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res struct {
				Mount  string
				Period string
				NextAt *string `json:"next_at"`
			}
			path := "/api/runcred/v1/mounts/" + mountArg(args[0]) + "/rotation-schedule"
			if len(args) == 2 {
				err = c.do(cmd.Context(), "PUT", path, map[string]string{"period": args[1]}, &res)
			} else {
				err = c.do(cmd.Context(), "GET", path, nil, &res)
			}
			if err != nil {
				return err
			}
			if res.NextAt == nil {
				fmt.Fprintf(stdout, "%s is not rotated on a schedule\n", res.Mount)
				return nil
			}
			fmt.Fprintf(stdout, "%s rotates every %s; next at %s\n", res.Mount, res.Period, *res.NextAt)
			return nil
		},
	}
	cmd.AddCommand(rotate, list, schedule)
	return cmd
}

func mountArg(m string) string { return url.PathEscape(strings.Trim(m, "/")) }

// printRotation shows what a rotation did.
func printRotation(w io.Writer, r rotation.Rotation) {
	fmt.Fprintf(w, "%s -> %s  (%s, %s)\n", r.Mount, r.NewPath, r.ID, r.State)
	if r.Error != "" {
		fmt.Fprintf(w, "  not finished yet: %s\n", r.Error)
	}
	fmt.Fprintf(w, "  storage entries copied: %d\n", r.Report.Entries)
	fmt.Fprintf(w, "  policies rewritten: %s\n", orNone(r.Report.Policies))
	var vars []string
	for _, v := range r.Report.Variables {
		vars = append(vars, v.WorkspaceID+"/"+v.Key)
	}
	fmt.Fprintf(w, "  variables rewritten: %s\n", orNone(vars))
	for _, q := range r.Report.Runs {
		if q.Error != "" {
			fmt.Fprintf(w, "  no run queued in %s: %s\n", q.WorkspaceID, q.Error)
		} else {
			fmt.Fprintf(w, "  run queued in %s: %s\n", q.WorkspaceID, q.RunID)
		}
	}
	fmt.Fprintf(w, "  leases revoked: %d\n", r.Report.Leases)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
