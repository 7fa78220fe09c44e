package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
)

func sealCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "seal", Short: "Manage the root key that seals every secret at rest"}
	var db, oldKey, newKey string
	rewrap := &cobra.Command{
		Use:   "rewrap",
		Short: "Re-wrap the data keys under a new root key (run with the servers stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" {
				db = getenv("RUNCRED_DATABASE")
			}
			if db == "" || oldKey == "" || newKey == "" {
				return fail.Invalidf("--database, --old-root-key-file and --new-root-key-file are required")
			}
			oldRoot, err := seal.LoadRootKey(oldKey)
			if err != nil {
				return err
			}
			newRoot, err := seal.LoadRootKey(newKey)
			if err != nil {
				return err
			}
			s, err := store.Open(cmd.Context(), db)
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := seal.Rewrap(cmd.Context(), s, oldRoot, newRoot)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "re-wrapped %d data key(s) under root key %s; start the servers with the new key file\n", n, newRoot.ID())
			return nil
		},
	}
	rewrap.Flags().StringVar(&db, "database", "", "SQLite path or postgres:// URL [RUNCRED_DATABASE]")
	rewrap.Flags().StringVar(&oldKey, "old-root-key-file", "", "the root key the data is sealed with now")
	rewrap.Flags().StringVar(&newKey, "new-root-key-file", "", "the new root key")
	gen := &cobra.Command{
		Use:   "generate-root-key FILE",
		Short: "Write a new random root key to FILE (mode 0600; refuses to overwrite)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := seal.GenerateRootKeyFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote root key %s to %s\n", k.ID(), args[0])
			return nil
		},
	}
	cmd.AddCommand(rewrap, gen)
	return cmd
}
