package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/audit"
)

func auditCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the tamper-evident audit log"}
	newClient := clientFlags(cmd, getenv)
	var n int
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Show the most recent audit records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var res struct{ Records []audit.Record }
			if err := c.do(cmd.Context(), "GET", "/api/runcred/v1/audit?tail="+strconv.Itoa(n), nil, &res); err != nil {
				return err
			}
			for _, r := range res.Records {
				fmt.Fprintf(stdout, "%d  %s  %-20s %s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), r.Type, r.Body)
			}
			return nil
		},
	}
	tail.Flags().IntVarP(&n, "lines", "n", 20, "how many records")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the hash chain and report the first broken link",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			var rep audit.Report
			if err := c.do(cmd.Context(), "GET", "/api/runcred/v1/audit/verify", nil, &rep); err != nil {
				return err
			}
			if rep.Broken != nil {
				return fmt.Errorf("audit chain broken at record %d: %s (%d records read)", rep.Broken.Seq, rep.Broken.Reason, rep.Records)
			}
			fmt.Fprintf(stdout, "audit chain intact: %d records, head %s\n", rep.Records, rep.Head)
			return nil
		},
	}
	cmd.AddCommand(tail, verify)
	return cmd
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
