package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

func identityCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Mint workload-identity tokens and manage signing keys"}
	newClient := clientFlags(cmd, getenv)
	cmd.AddCommand(mintCmd(newClient, stdout), rotateCmd(newClient, stdout), revokeKeyCmd(newClient, stdout), keysCmd(newClient, stdout))
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
	var force bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Retire the signing key now and promote the published next key",
		Long: `Retires the signing key and promotes the next key, which every verifier
already has once it has been published for the publish lead. Until then the
rotation is refused, unless --force: for a compromised signing key, which must
stop signing at once even if verifiers holding an older cached JWKS refuse the
new key's tokens until they fetch it again. The retired key stays published
until its tokens have expired; remove it now with 'runcred identity revoke-key'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res identity.RotateResult
			if err := c.do(cmd.Context(), "POST", "/api/runcred/v1/identity/rotate", identity.RotateBody{Force: force}, &res); err != nil {
				return err
			}
			if res.Concurrent {
				fmt.Fprintln(stdout, "another node rotated at the same moment; its rotation stands")
			}
			fmt.Fprintf(stdout, "current: %s\nnext:    %s\n", res.Current, res.Next)
			if res.Retired != "" {
				fmt.Fprintf(stdout, "retired: %s (published, and its tokens verifying, until %s; if it is compromised: runcred identity revoke-key -- %s)\n",
					res.Retired, res.RetiredUntil.Format(time.RFC3339), res.Retired)
			}
			if res.Warning != "" {
				fmt.Fprintf(stdout, "warning: %s\n", res.Warning)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rotate even if the next key was published less than the publish lead ago (key compromise)")
	return cmd
}

func revokeKeyCmd(newClient func() (*client, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-key [--] KID",
		Short: "Remove a compromised signing key from the JWKS now, so its tokens stop verifying",
		Long: `Removes the key from the keyring: it leaves the JWKS at once and never signs
again, so verifiers that fetch the JWKS afterwards refuse every token it
signed. Verifiers that cached the JWKS before keep the key until they fetch it
again. The current key cannot be revoked: run 'runcred identity rotate --force'
first. A revoked next key is replaced by a new one. A key ID may begin with
'-': put '--' before it, as in 'runcred identity revoke-key -- KID'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res identity.RevokeResult
			if err := c.do(cmd.Context(), "POST", "/api/runcred/v1/identity/keys/"+url.PathEscape(args[0])+"/revoke", nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked: %s (was %s); it is no longer published and never signs again\n", res.KeyID, res.State)
			if res.Next != "" {
				fmt.Fprintf(stdout, "next:    %s (published now; rotation onto it is possible after the publish lead)\n", res.Next)
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
