package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

func workspaceCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "workspace", Short: "Create, list, show, lock and unlock workspaces"}
	newClient := tfeFlags(cmd, getenv)
	cmd.AddCommand(workspaceCreateCmd(newClient, stdout), workspaceListCmd(newClient, stdout), workspaceShowCmd(newClient, stdout),
		workspaceLockCmd(newClient, stdout), workspaceUnlockCmd(newClient, stdout))
	return cmd
}

func workspaceLockCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "lock ORG/NAME",
		Short: "Lock a workspace: new runs wait until it is unlocked",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, ws, err := workspaceArg(cmd.Context(), newClient, args[0])
			if err != nil {
				return err
			}
			if _, err := c.api.Workspaces.Lock(cmd.Context(), ws.ID, tfe.WorkspaceLockOptions{Reason: &reason}); err != nil {
				return explain(err, "workspace "+ref.String())
			}
			_, err = fmt.Fprintf(stdout, "Locked workspace %s\n", ref)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why it is locked")
	return cmd
}

func workspaceUnlockCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "unlock ORG/NAME",
		Short: "Unlock a workspace you locked (--force: anyone's); its oldest waiting run starts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, ws, err := workspaceArg(cmd.Context(), newClient, args[0])
			if err != nil {
				return err
			}
			if force {
				_, err = c.api.Workspaces.ForceUnlock(cmd.Context(), ws.ID)
			} else {
				_, err = c.api.Workspaces.Unlock(cmd.Context(), ws.ID)
			}
			if err != nil {
				return explain(err, "workspace "+ref.String())
			}
			_, err = fmt.Fprintf(stdout, "Unlocked workspace %s\n", ref)
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "lift another's lock")
	return cmd
}

func workspaceCreateCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var (
		o         tfe.WorkspaceCreateOptions
		autoApply bool
		workDir   string
		tfVersion string
		agentPool string
		projectID string
		createOrg bool
		orgEmail  string
	)
	cmd := &cobra.Command{
		Use:   "create ORG/NAME",
		Short: "Create a workspace (and, with --create-org, its organization)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseWorkspaceRef(args[0])
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if createOrg {
				if err := c.ensureOrganization(ctx, ref.org, orgEmail, stdout); err != nil {
					return err
				}
			}
			o.Name = tfe.String(ref.name)
			f := cmd.Flags()
			if f.Changed("auto-apply") {
				o.AutoApply = tfe.Bool(autoApply)
			}
			if workDir != "" {
				o.WorkingDirectory = tfe.String(workDir)
			}
			if tfVersion != "" {
				o.TerraformVersion = tfe.String(tfVersion)
			}
			if agentPool != "" {
				o.AgentPoolID = tfe.String(agentPool)
			}
			if projectID != "" {
				o.Project = &tfe.Project{ID: projectID}
			}
			ws, err := c.api.Workspaces.Create(ctx, ref.org, o)
			if errors.Is(err, tfe.ErrResourceNotFound) {
				return fail.NotFoundf("organization %s not found, or the token may not create workspaces in it (--create-org creates a missing organization)", ref.org)
			}
			if err != nil {
				return explain(err, "workspace "+ref.String())
			}
			_, err = fmt.Fprintf(stdout, "Created workspace %s (%s)\n", ref, ws.ID)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&autoApply, "auto-apply", false, "apply runs without confirmation when their plan succeeds")
	f.StringVar(&workDir, "working-directory", "", "directory inside the uploaded configuration to run in")
	f.StringVar(&tfVersion, "terraform-version", "", "Terraform or OpenTofu version to record (agents run the binary they were given)")
	f.StringVar(&agentPool, "agent-pool", "", "agent pool ID (apool-...) whose agents run this workspace")
	f.StringVar(&projectID, "project", "", "project ID (prj-...; default: the organization's default project)")
	f.BoolVar(&createOrg, "create-org", false, "create the organization first if it does not exist")
	f.StringVar(&orgEmail, "org-email", "", "the new organization's email (with --create-org; default admin@ORG.invalid)")
	return cmd
}

// ensureOrganization creates organization org unless it exists.
func (c *tfeClient) ensureOrganization(ctx context.Context, org, email string, stdout io.Writer) error {
	_, err := c.api.Organizations.Read(ctx, org)
	if err == nil {
		return nil
	}
	if !errors.Is(err, tfe.ErrResourceNotFound) {
		return explain(err, "organization "+org)
	}
	if email == "" {
		email = "admin@" + org + ".invalid" // .invalid: reserved, never delivered
	}
	if _, err := c.api.Organizations.Create(ctx, tfe.OrganizationCreateOptions{Name: tfe.String(org), Email: tfe.String(email)}); err != nil {
		return explain(err, "organization "+org)
	}
	_, err = fmt.Fprintf(stdout, "Created organization %s\n", org)
	return err
}

func workspaceListCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list ORG",
		Short: "List an organization's workspaces",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := identity.ValidOrganizationName(org); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			tw := newTable(stdout)
			fmt.Fprintln(tw, "NAME\tID\tAUTO-APPLY\tTERRAFORM-VERSION\tUPDATED")
			err = eachPage(func(o tfe.ListOptions) (*tfe.Pagination, error) {
				page, err := c.api.Workspaces.List(cmd.Context(), org, &tfe.WorkspaceListOptions{ListOptions: o})
				if err != nil {
					return nil, explain(err, "organization "+org)
				}
				for _, ws := range page.Items {
					fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", quote(ws.Name), ws.ID, ws.AutoApply, orDash(ws.TerraformVersion), stamp(ws.UpdatedAt))
				}
				return page.Pagination, nil
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
}

func workspaceShowCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "show ORG/NAME",
		Short: "Show a workspace's settings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, ref, ws, err := workspaceArg(cmd.Context(), newClient, args[0])
			if err != nil {
				return err
			}
			project, pool := "-", "-"
			if ws.Project != nil {
				project = ws.Project.ID
			}
			if ws.AgentPool != nil {
				pool = ws.AgentPool.ID
			}
			return printFields(stdout, [][2]string{
				{"Workspace", ref.String()}, {"ID", ws.ID}, {"Project", project},
				{"Auto apply", strconv.FormatBool(ws.AutoApply)}, {"Execution mode", orDash(ws.ExecutionMode)},
				{"Working directory", orDash(ws.WorkingDirectory)}, {"Terraform version", orDash(ws.TerraformVersion)},
				{"Agent pool", pool}, {"Description", orDash(ws.Description)},
				{"Created", stamp(ws.CreatedAt)}, {"Updated", stamp(ws.UpdatedAt)},
			})
		},
	}
}
