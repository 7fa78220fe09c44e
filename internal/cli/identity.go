package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

func identityCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Mint workload-identity tokens and manage signing keys"}
	newClient := clientFlags(cmd, getenv)
	cmd.AddCommand(mintCmd(newClient, stdout), rotateCmd(newClient, stdout), keysCmd(newClient, stdout))
	return cmd
}

func mintCmd(newClient func() (*client, error), stdout io.Writer) *cobra.Command {
	var (
		b         identity.MintBody
		audiences []string
		ttl       string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "mint",
		Short: "Mint a run-phase token (to test trust policies before real runs use them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(audiences) != 1 {
				return fail.Invalidf("exactly one --audience is required (a token carries a single audience), got %d", len(audiences))
			}
			aud, _ := json.Marshal(audiences[0])
			b.Audience = aud
			if ttl != "" {
				b.TTL, _ = json.Marshal(ttl)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var out identity.MintResponse
			if err := c.do(cmd.Context(), "POST", "/api/runcred/v1/identity/mint", b, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(out)
			}
			_, err = fmt.Fprintln(stdout, out.Token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.Organization, "org", "", "organization name")
	f.StringVar(&b.Project, "project", "Default Project", "project name")
	f.StringVar(&b.Workspace, "workspace", "", "workspace name")
	f.StringVar(&b.RunID, "run", "", "run ID (run-...)")
	f.StringVar((*string)(&b.Phase), "phase", "", "run phase: plan or apply")
	f.StringArrayVar(&audiences, "audience", nil, "token audience (exactly one)")
	f.StringVar(&ttl, "ttl", "", "token lifetime, e.g. 15m (default: the server's)")
	f.StringVar(&b.OrganizationID, "org-id", "", "organization ID (default: derived from the name)")
	f.StringVar(&b.ProjectID, "project-id", "", "project ID (default: derived from the names)")
	f.StringVar(&b.WorkspaceID, "workspace-id", "", "workspace ID (default: derived from the names)")
	f.BoolVar(&asJSON, "json", false, "print the token with its jti, kid, sub, aud, iat and exp as JSON")
	return cmd
}

func rotateCmd(newClient func() (*client, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Retire the signing key now and promote the published next key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res identity.RotateResult
			if err := c.do(cmd.Context(), "POST", "/api/runcred/v1/identity/rotate", nil, &res); err != nil {
				return err
			}
			if res.Concurrent {
				fmt.Fprintln(stdout, "another node rotated at the same moment; its rotation stands")
			}
			fmt.Fprintf(stdout, "current: %s\nnext:    %s\n", res.Current, res.Next)
			if res.Retired != "" {
				fmt.Fprintf(stdout, "retired: %s (published until its tokens have expired)\n", res.Retired)
			}
			return nil
		},
	}
}

func keysCmd(newClient func() (*client, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "List the signing keys and their states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res struct{ Keys []identity.KeyInfo }
			if err := c.do(cmd.Context(), "GET", "/api/runcred/v1/identity/keys", nil, &res); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tSTATE\tCREATED\tACTIVATED\tRETIRED")
			for _, k := range res.Keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.State, stamp(k.CreatedAt), stamp(k.ActivatedAt), stamp(k.RetiredAt))
			}
			return tw.Flush()
		},
	}
}
