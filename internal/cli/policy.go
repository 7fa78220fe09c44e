package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/policy"
)

func policyCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Work with OPA policy sets"}
	newClient := tfeFlags(cmd, getenv)
	cmd.AddCommand(policyPushCmd(newClient, stdout), policyListCmd(newClient, stdout), policyShowCmd(newClient, stdout))
	var paramsFile string
	test := &cobra.Command{
		Use:   "test DIR",
		Short: "Check a policy set directory and run its Rego tests (*_test.rego), here, without a server",
		Long: "Reads DIR as a policy set is uploaded (policies.hcl or policies.json at its root, .rego files\n" +
			"anywhere), compiles it as the server would (Rego v1, no network or runtime built-ins) and runs\n" +
			"OPA's test runner on its test_ rules. --params gives a JSON object the policies read as data.params.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var params map[string]any
			if paramsFile != "" {
				b, err := os.ReadFile(paramsFile)
				if err != nil {
					return fail.Invalidf("reading --params: %v", err)
				}
				if err := json.Unmarshal(b, &params); err != nil {
					return fail.Invalidf("--params %s is not a JSON object: %v", paramsFile, err)
				}
			}
			files, err := policy.ReadFS(os.DirFS(args[0]))
			if err != nil {
				return fail.Invalidf("reading %s: %v", args[0], err)
			}
			set, err := policy.Parse(files)
			if err != nil {
				return err
			}
			set.ID, set.Version, set.Params = args[0], "local", params
			if err := policy.New(policy.Options{}).Compile(cmd.Context(), set); err != nil {
				return err
			}
			results, err := policy.RunTests(cmd.Context(), files, params)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				status := "PASS"
				switch {
				case r.Skipped:
					status = "SKIP"
				case r.Error != "":
					status, failed = "ERROR", failed+1
				case !r.Passed:
					status, failed = "FAIL", failed+1
				}
				fmt.Fprintf(stdout, "%-5s %s.%s (%s)\n", status, r.Package, r.Name, r.Location)
				if r.Error != "" {
					fmt.Fprintf(stdout, "      %s\n", r.Error)
				}
				if !r.Passed && r.Output != "" {
					fmt.Fprintf(stdout, "      %s\n", strings.ReplaceAll(strings.TrimSpace(r.Output), "\n", "\n      "))
				}
			}
			fmt.Fprintf(stdout, "%d policies; %d tests, %d failed\n", len(set.Policies), len(results), failed)
			if failed > 0 {
				return fmt.Errorf("%d of %d tests failed", failed, len(results))
			}
			return nil
		},
	}
	test.Flags().StringVar(&paramsFile, "params", "", "JSON file of the set's parameters (data.params)")
	cmd.AddCommand(test)
	return cmd
}
