package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
)

// maxVarValue is the longest value read from stdin: the server's limit.
const maxVarValue = 256 << 10

func varCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "var", Short: "Set, list and delete workspace variables"}
	newClient := tfeFlags(cmd, getenv)
	cmd.AddCommand(varSetCmd(newClient, stdout), varListCmd(newClient, stdout), varDeleteCmd(newClient, stdout))
	return cmd
}

func category(env bool) tfe.CategoryType {
	if env {
		return tfe.CategoryEnv
	}
	return tfe.CategoryTerraform
}

// findVar returns the variable key of category cat in workspace wsID, or nil.
// A key is unique per category, as in HCP Terraform.
func (c *tfeClient) findVar(ctx context.Context, ref workspaceRef, wsID, key string, cat tfe.CategoryType) (*tfe.Variable, error) {
	var found *tfe.Variable
	err := c.eachVariable(ctx, ref, wsID, func(v *tfe.Variable) bool {
		if v.Key == key && v.Category == cat {
			found = v
			return false
		}
		return true
	})
	return found, err
}

// eachVariable calls f with each variable of workspace wsID (ref names it
// in errors) until f returns false.
func (c *tfeClient) eachVariable(ctx context.Context, ref workspaceRef, wsID string, f func(*tfe.Variable) bool) error {
	return eachPage(func(o tfe.ListOptions) (*tfe.Pagination, error) {
		page, err := c.api.Variables.List(ctx, wsID, &tfe.VariableListOptions{ListOptions: o})
		if err != nil {
			return nil, explain(err, "variables of workspace "+ref.String())
		}
		for _, v := range page.Items {
			if !f(v) {
				return nil, nil
			}
		}
		return page.Pagination, nil
	})
}

func varSetCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var (
		isEnv, sensitive, hcl bool
		description           string
	)
	cmd := &cobra.Command{
		Use:   "set ORG/NAME KEY VALUE",
		Short: "Create or update a variable (VALUE - reads it from stdin)",
		Long: `Create a variable, or update the one with the same key and category.

VALUE "-" reads the value from stdin, so a secret need not appear on the
command line or in shell history; one trailing newline is dropped.
A sensitive variable's value is never shown again, and it cannot be made
non-sensitive (delete and recreate it).`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseWorkspaceRef(args[0])
			if err != nil {
				return err
			}
			key, value := args[1], args[2]
			if key == "" {
				return fail.Invalidf("variable key is required")
			}
			if value == "-" {
				if value, err = readValue(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			c, ws, err := openWorkspace(ctx, newClient, ref)
			if err != nil {
				return err
			}
			cat := category(isEnv)
			cur, err := c.findVar(ctx, ref, ws.ID, key, cat)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			verb := "Created"
			if cur == nil {
				o := tfe.VariableCreateOptions{Key: tfe.String(key), Value: tfe.String(value), Category: tfe.Category(cat),
					HCL: tfe.Bool(hcl), Sensitive: tfe.Bool(sensitive)}
				if f.Changed("description") {
					o.Description = tfe.String(description)
				}
				_, err = c.api.Variables.Create(ctx, ws.ID, o)
			} else {
				verb = "Updated"
				o := tfe.VariableUpdateOptions{Value: tfe.String(value)}
				// Only what was asked for changes; the rest stays as it is.
				if f.Changed("hcl") {
					o.HCL = tfe.Bool(hcl)
				}
				if f.Changed("sensitive") {
					o.Sensitive = tfe.Bool(sensitive)
				}
				if f.Changed("description") {
					o.Description = tfe.String(description)
				}
				_, err = c.api.Variables.Update(ctx, ws.ID, cur.ID, o)
			}
			if err != nil {
				return explain(err, fmt.Sprintf("%s variable %s in workspace %s", cat, quote(key), ref))
			}
			note := ""
			if sensitive || (cur != nil && cur.Sensitive) {
				note = " (sensitive)"
			}
			_, err = fmt.Fprintf(stdout, "%s %s variable %s%s in %s\n", verb, cat, quote(key), note, ref)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&isEnv, "env", false, "an environment variable (default: a Terraform variable)")
	f.BoolVar(&sensitive, "sensitive", false, "write-only: the value is never shown again")
	f.BoolVar(&hcl, "hcl", false, "parse the value as HCL (Terraform variables only)")
	f.StringVar(&description, "description", "", "what the variable is for")
	return cmd
}

// readValue reads a variable's value from r, dropping one trailing newline
// (what `echo` and most editors add).
func readValue(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxVarValue+2))
	if err != nil {
		return "", fmt.Errorf("reading the value from stdin: %w", err)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if len(s) > maxVarValue {
		return "", fail.Invalidf("the value on stdin is longer than %d bytes", maxVarValue)
	}
	return s, nil
}

func varListCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list ORG/NAME",
		Short: "List a workspace's variables (sensitive values are not shown)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, ref, ws, err := workspaceArg(ctx, newClient, args[0])
			if err != nil {
				return err
			}
			tw := newTable(stdout)
			fmt.Fprintln(tw, "KEY\tCATEGORY\tHCL\tVALUE\tDESCRIPTION")
			err = c.eachVariable(ctx, ref, ws.ID, func(v *tfe.Variable) bool {
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", quote(v.Key), v.Category, v.HCL, shownValue(v), orDash(v.Description))
				return true
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
}

// shownValue is how a variable's value is listed. A sensitive value is
// never printed, whatever the server sent.
func shownValue(v *tfe.Variable) string {
	if v.Sensitive {
		return "(sensitive)"
	}
	if v.Value == "" {
		return `""`
	}
	return quote(v.Value)
}

func varDeleteCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var isEnv bool
	cmd := &cobra.Command{
		Use:   "delete ORG/NAME KEY",
		Short: "Delete a variable",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, ref, ws, err := workspaceArg(ctx, newClient, args[0])
			if err != nil {
				return err
			}
			key := args[1]
			cat := category(isEnv)
			v, err := c.findVar(ctx, ref, ws.ID, key, cat)
			if err != nil {
				return err
			}
			what := fmt.Sprintf("%s variable %s in workspace %s", cat, quote(key), ref)
			if v == nil {
				hint := ""
				if !isEnv {
					hint = " (--env for an environment variable)"
				}
				return fail.NotFoundf("%s not found%s", what, hint)
			}
			if err := c.api.Variables.Delete(ctx, ws.ID, v.ID); err != nil {
				return explain(err, what)
			}
			_, err = fmt.Fprintf(stdout, "Deleted %s variable %s from %s\n", cat, quote(key), ref)
			return err
		},
	}
	cmd.Flags().BoolVar(&isEnv, "env", false, "an environment variable (default: a Terraform variable)")
	return cmd
}
