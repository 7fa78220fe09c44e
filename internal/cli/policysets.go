package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/policy"
)

// The server's policy sets, through go-tfe's PolicySets and
// PolicySetVersions, as any HCP Terraform client manages them.

// setRef names a policy set as ORG/NAME.
func parseSetRef(s string) (org, name string, err error) {
	org, name, ok := strings.Cut(s, "/")
	if !ok || org == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fail.Invalidf("%s is not ORG/NAME (an organization and a policy set joined by one '/')", quote(s))
	}
	if err := identity.ValidOrganizationName(org); err != nil {
		return "", "", err
	}
	return org, name, nil
}

// findSet returns the policy set named name in org, or nil.
func (c *tfeClient) findSet(ctx context.Context, org, name string) (*tfe.PolicySet, error) {
	var found *tfe.PolicySet
	err := eachPage(func(o tfe.ListOptions) (*tfe.Pagination, error) {
		l, err := c.api.PolicySets.List(ctx, org, &tfe.PolicySetListOptions{ListOptions: o, Search: name})
		if err != nil {
			return nil, explain(err, "organization "+org)
		}
		for _, s := range l.Items {
			if s.Name == name {
				found = s
				return nil, nil
			}
		}
		return l.Pagination, nil
	})
	return found, err
}

func policyPushCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var (
		overridable bool
		global      bool
		workspaces  []string
		params      []string
	)
	cmd := &cobra.Command{
		Use:   "push DIR ORG/NAME",
		Short: "Upload a policy set directory as a new version of policy set NAME (created if missing)",
		Long: "Checks DIR as `policy test` reads it (policies.hcl or policies.json at its root), then uploads it\n" +
			"as a new version of the OPA policy set NAME of ORG, creating the set when it does not exist.\n" +
			"--overridable lets holders of the manage-policy-overrides permission override its mandatory\n" +
			"failures (never hard-mandatory ones); --global applies it to every workspace, --workspace to\n" +
			"the ones named; --param KEY=VALUE sets a parameter (JSON values arrive typed).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, name, err := parseSetRef(args[1])
			if err != nil {
				return err
			}
			files, err := policy.ReadFS(os.DirFS(args[0]))
			if err != nil {
				return fail.Invalidf("reading %s: %v", args[0], err)
			}
			if _, err := policy.Parse(files); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var wss []*tfe.Workspace
			for _, ref := range workspaces {
				wr, err := parseWorkspaceRef(ref)
				if err != nil {
					return err
				}
				if wr.org != org {
					return fail.Invalidf("workspace %s is not in organization %s", wr, org)
				}
				w, err := c.api.Workspaces.Read(ctx, wr.org, wr.name)
				if err != nil {
					return explain(err, "workspace "+wr.String())
				}
				wss = append(wss, w)
			}
			set, err := c.findSet(ctx, org, name)
			if err != nil {
				return err
			}
			if set == nil {
				set, err = c.api.PolicySets.Create(ctx, org, tfe.PolicySetCreateOptions{Name: &name, Kind: tfe.OPA,
					Overridable: &overridable, Global: &global, Workspaces: wss})
				if err != nil {
					return explain(err, "policy set "+args[1])
				}
				fmt.Fprintf(stdout, "Created policy set %s (%s)\n", args[1], set.ID)
			} else {
				o := tfe.PolicySetUpdateOptions{}
				if cmd.Flags().Changed("overridable") {
					o.Overridable = &overridable
				}
				if cmd.Flags().Changed("global") {
					o.Global = &global
				}
				if set, err = c.api.PolicySets.Update(ctx, set.ID, o); err != nil {
					return explain(err, "policy set "+args[1])
				}
				if len(wss) > 0 {
					if err := c.api.PolicySets.AddWorkspaces(ctx, set.ID, tfe.PolicySetAddWorkspacesOptions{Workspaces: wss}); err != nil {
						return explain(err, "policy set "+args[1])
					}
				}
			}
			if err := c.setParams(ctx, set.ID, params); err != nil {
				return err
			}
			v, err := c.api.PolicySetVersions.Create(ctx, set.ID)
			if err != nil {
				return explain(err, "policy set "+args[1])
			}
			upErr := c.api.PolicySetVersions.Upload(ctx, *v, args[0])
			if v, err = c.api.PolicySetVersions.Read(ctx, v.ID); err != nil {
				return explain(err, "policy set version "+v.ID)
			}
			if v.Status != tfe.PolicySetVersionReady {
				if upErr != nil && v.Error == "" {
					return explain(upErr, "upload of "+args[0])
				}
				return fail.Invalidf("policy set version %s is %s: %s", v.ID, v.Status, v.Error)
			}
			fmt.Fprintf(stdout, "Uploaded %s as version %s of policy set %s: %s\n", args[0], v.ID, args[1], v.Status)
			return nil
		},
	}
	cmd.Flags().BoolVar(&overridable, "overridable", false, "mandatory failures may be overridden (hard-mandatory ones never)")
	cmd.Flags().BoolVar(&global, "global", false, "apply the set to every workspace of the organization")
	cmd.Flags().StringArrayVar(&workspaces, "workspace", nil, "apply the set to workspace ORG/NAME (repeatable)")
	cmd.Flags().StringArrayVar(&params, "param", nil, "set parameter KEY=VALUE (repeatable; JSON values arrive typed)")
	return cmd
}

// setParams creates or updates each KEY=VALUE parameter of set id.
func (c *tfeClient) setParams(ctx context.Context, id string, params []string) error {
	if len(params) == 0 {
		return nil
	}
	have, err := c.api.PolicySetParameters.List(ctx, id, &tfe.PolicySetParameterListOptions{ListOptions: tfe.ListOptions{PageSize: 100}})
	if err != nil {
		return explain(err, "parameters of policy set "+id)
	}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fail.Invalidf("--param %s is not KEY=VALUE", quote(kv))
		}
		var existing *tfe.PolicySetParameter
		for _, p := range have.Items {
			if p.Key == k {
				existing = p
			}
		}
		if existing != nil {
			_, err = c.api.PolicySetParameters.Update(ctx, id, existing.ID, tfe.PolicySetParameterUpdateOptions{Value: &v})
		} else {
			_, err = c.api.PolicySetParameters.Create(ctx, id, tfe.PolicySetParameterCreateOptions{Key: &k, Value: &v,
				Category: tfe.Category(tfe.CategoryPolicySet)})
		}
		if err != nil {
			return explain(err, "parameter "+k)
		}
	}
	return nil
}

func policyListCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list ORG",
		Short: "List an organization's policy sets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := identity.ValidOrganizationName(args[0]); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			tw := newTable(stdout)
			fmt.Fprintln(tw, "NAME\tID\tKIND\tOVERRIDABLE\tGLOBAL\tPOLICIES\tWORKSPACES\tPROJECTS")
			err = eachPage(func(o tfe.ListOptions) (*tfe.Pagination, error) {
				l, err := c.api.PolicySets.List(cmd.Context(), args[0], &tfe.PolicySetListOptions{ListOptions: o})
				if err != nil {
					return nil, explain(err, "organization "+args[0])
				}
				for _, s := range l.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%d\t%d\t%d\n", quote(s.Name), s.ID, s.Kind, s.Overridable != nil && *s.Overridable,
						s.Global, s.PolicyCount, s.WorkspaceCount, s.ProjectCount)
				}
				return l.Pagination, nil
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
}

func policyShowCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "show ORG/NAME",
		Short: "Show a policy set: its settings, scope, policies and parameters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, name, err := parseSetRef(args[0])
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := c.findSet(ctx, org, name)
			if err != nil {
				return err
			}
			if s == nil {
				return fail.NotFoundf("policy set %s not found, or the token may not see it", args[0])
			}
			ids := func(n int, id func(int) string) string {
				var out []string
				for i := 0; i < n; i++ {
					out = append(out, id(i))
				}
				return orDash(strings.Join(out, ", "))
			}
			version := "-"
			if s.CurrentVersion != nil {
				version = s.CurrentVersion.ID
			}
			err = printFields(stdout, [][2]string{
				{"Policy set", s.Name}, {"ID", s.ID}, {"Kind", string(s.Kind)}, {"Description", orDash(s.Description)},
				{"Overridable", strconv.FormatBool(s.Overridable != nil && *s.Overridable)}, {"Global", strconv.FormatBool(s.Global)},
				{"Workspaces", ids(len(s.Workspaces), func(i int) string { return s.Workspaces[i].ID })},
				{"Workspace exclusions", ids(len(s.WorkspaceExclusions), func(i int) string { return s.WorkspaceExclusions[i].ID })},
				{"Projects", ids(len(s.Projects), func(i int) string { return s.Projects[i].ID })},
				{"Project exclusions", ids(len(s.ProjectExclusions), func(i int) string { return s.ProjectExclusions[i].ID })},
				{"Uploaded version", version}, {"Updated", stamp(s.UpdatedAt)},
			})
			if err != nil {
				return err
			}
			tw := newTable(stdout)
			fmt.Fprintln(tw, "POLICY\tLEVEL\tQUERY")
			for _, ref := range s.Policies {
				p, err := c.api.Policies.Read(ctx, ref.ID)
				if err != nil {
					return explain(err, "policy "+ref.ID)
				}
				q := ""
				if p.Query != nil {
					q = *p.Query
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", quote(p.Name), p.EnforcementLevel, quote(q))
			}
			params, err := c.api.PolicySetParameters.List(ctx, s.ID, &tfe.PolicySetParameterListOptions{ListOptions: tfe.ListOptions{PageSize: 100}})
			if err != nil {
				return explain(err, "parameters of "+args[0])
			}
			for _, p := range params.Items {
				v := quote(p.Value)
				if p.Sensitive {
					v = "(sensitive)"
				}
				fmt.Fprintf(tw, "param %s\t=\t%s\n", quote(p.Key), v)
			}
			return tw.Flush()
		},
	}
}

// printChecks writes run id's policy checks: each set's policies and
// violations, as run show lists them.
func (c *tfeClient) printChecks(ctx context.Context, out io.Writer, id string) error {
	stages, err := c.api.TaskStages.List(ctx, id, nil)
	if err != nil {
		return explain(err, "task stages of run "+id)
	}
	for _, st := range stages.Items {
		fmt.Fprintf(out, "Policy check (%s, task stage %s): %s\n", st.Stage, st.ID, st.Status)
		evals, err := c.api.PolicyEvaluations.List(ctx, st.ID, nil)
		if err != nil {
			return explain(err, "policy evaluations of "+st.ID)
		}
		for _, ev := range evals.Items {
			outs, err := c.api.PolicySetOutcomes.List(ctx, ev.ID, nil)
			if err != nil {
				return explain(err, "policy set outcomes of "+ev.ID)
			}
			for _, o := range outs.Items {
				fmt.Fprintf(out, "  policy set %s:\n", quote(o.PolicySetName))
				for _, p := range o.Outcomes {
					fmt.Fprintf(out, "    %-8s %s (%s)\n", strings.ToUpper(p.Status), quote(p.PolicyName), p.EnforcementLevel)
					for _, v := range p.Output {
						fmt.Fprintf(out, "             - %s\n", quote(v.Print))
					}
				}
				if o.Error != "" {
					fmt.Fprintf(out, "    error: %s\n", quote(o.Error))
				}
			}
		}
	}
	return nil
}

func runOverrideCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "override RUN_ID --reason TEXT",
		Short: "Override a run's overridable mandatory policy failures, with a written justification",
		Long: "Needs the manage-policy-overrides permission. The override covers this run's plan only (a new\n" +
			"plan is checked again) and is audited with the reason; hard-mandatory and errored policies\n" +
			"cannot be overridden by anyone.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := runArg(newClient, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			stages, err := c.api.TaskStages.List(ctx, id, nil)
			if err != nil {
				return explain(err, "run "+id)
			}
			for _, st := range stages.Items {
				if st.Status != tfe.TaskStageAwaitingOverride {
					continue
				}
				if _, err := c.api.TaskStages.Override(ctx, st.ID, tfe.TaskStageOverrideOptions{Comment: &reason}); err != nil {
					return explain(err, "task stage "+st.ID)
				}
				r, err := c.readRun(ctx, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "Overrode the policy check of run %s; the run is %s\n", id, r.Status)
				return nil
			}
			return fail.Conflictf("run %s has no policy check awaiting an override", id)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the failures may be overridden (required; audited)")
	return cmd
}
