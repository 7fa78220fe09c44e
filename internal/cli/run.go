package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
)

// uploadWait bounds the wait for the server to accept an uploaded
// configuration; runcred accepts it within the upload request itself.
const uploadWait = 2 * time.Minute

func runCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "run", Short: "Start, follow, confirm and inspect runs"}
	newClient := tfeFlags(cmd, getenv)
	cmd.AddCommand(
		runStartCmd(newClient, stdout), runFollowCmd(newClient, stdout), runApplyCmd(newClient, stdout),
		runActionCmd(newClient, stdout, "discard", "Discard a planned run without applying it", "Discarded"),
		runActionCmd(newClient, stdout, "cancel", "Cancel a run; a phase in progress is interrupted and its state kept", "Canceled"),
		runActionCmd(newClient, stdout, "force-cancel", "End a planning or applying run at once, without its agent (state it would have stored is lost)", "Force-canceled"),
		runShowCmd(newClient, stdout), runListCmd(newClient, stdout), runOverrideCmd(newClient, stdout),
	)
	return cmd
}

func runStartCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var (
		message            string
		planOnly, noFollow bool
		opts               *runOpts
	)
	cmd := &cobra.Command{
		Use:   "start ORG/NAME [DIR]",
		Short: "Upload DIR (default .) as a new configuration and start a run of it",
		Long: `Upload DIR (default .) as a new configuration version of the workspace and
start a run of it, then follow its log until it ends or waits for confirmation.

Everything under DIR is uploaded except .terraform and .git directories and
local state files (*.tfstate, *.tfstate.backup). Whether a successful plan is
applied without confirmation is the workspace's auto-apply setting.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseWorkspaceRef(args[0])
			if err != nil {
				return err
			}
			dir := "."
			if len(args) == 2 {
				dir = args[1]
			}
			archive, files, err := packDir(dir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, ws, err := openWorkspace(ctx, newClient, ref)
			if err != nil {
				return err
			}
			cv, err := c.api.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{
				AutoQueueRuns: tfe.Bool(false), Speculative: tfe.Bool(planOnly)})
			if err != nil {
				return explain(err, "workspace "+ref.String())
			}
			size := archive.Len()
			if err := c.api.ConfigurationVersions.UploadTarGzip(ctx, cv.UploadURL, archive); err != nil {
				return explain(err, "upload URL of configuration version "+cv.ID)
			}
			if err := c.waitUploaded(ctx, cv.ID); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Uploaded %s (%d files, %d bytes) as %s\n", dir, files, size, cv.ID)
			o := tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cv}
			if message != "" {
				o.Message = tfe.String(message)
			}
			if planOnly {
				o.PlanOnly = tfe.Bool(true)
			}
			if err := opts.apply(&o); err != nil {
				return err
			}
			run, err := c.api.Runs.Create(ctx, o)
			if err != nil {
				return explain(err, "workspace "+ref.String())
			}
			fmt.Fprintf(stdout, "Run %s created in %s: %s\n", run.ID, ref, c.runURL(run.ID))
			if noFollow {
				return nil
			}
			return c.follow(ctx, stdout, run.ID, false)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&message, "message", "m", "", "a message to show with the run")
	f.BoolVar(&planOnly, "plan-only", false, "plan, never apply (a speculative run)")
	f.BoolVar(&noFollow, "no-follow", false, "print the run ID and return at once")
	opts = addRunOptionFlags(cmd)
	return cmd
}

// runURL is the run's page in the web UI.
func (c *tfeClient) runURL(id string) string { return c.addr + "/app/runs/" + id }

// waitUploaded waits until configuration version id has been accepted.
func (c *tfeClient) waitUploaded(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, uploadWait)
	defer cancel()
	for {
		cv, err := c.api.ConfigurationVersions.Read(ctx, id)
		if err != nil {
			return explain(err, "configuration version "+id)
		}
		switch cv.Status {
		case tfe.ConfigurationUploaded:
			return nil
		case tfe.ConfigurationErrored:
			return fmt.Errorf("configuration version %s errored: %s", id, quote(cv.ErrorMessage))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("configuration version %s is still %s: %w", id, cv.Status, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// skipped reports whether packDir leaves out an entry named name: provider
// caches and history are not configuration, and local state holds secrets
// and is not the workspace's state.
func skipped(name string, isDir bool) bool {
	if name == ".terraform" || name == ".git" {
		return true
	}
	return !isDir && (strings.HasSuffix(name, ".tfstate") || strings.HasSuffix(name, ".tfstate.backup"))
}

// packDir archives dir as a gzip-compressed tar with paths relative to it.
// Symlinks are kept as links; the server refuses any that leave the archive.
func packDir(dir string) (*bytes.Buffer, int, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, 0, fail.Invalidf("configuration directory: %s", err.Error())
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, 0, fail.Invalidf("configuration directory %s is not a directory", quote(dir))
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if skipped(d.Name(), d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch mode := info.Mode(); {
		case mode&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case !mode.IsRegular() && !mode.IsDir():
			return fail.Invalidf("%s is not a file, directory or symlink", quote(p))
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		// Owners mean nothing where the archive is unpacked.
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		files++
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("packing %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	if err := gz.Close(); err != nil {
		return nil, 0, err
	}
	return &buf, files, nil
}

func runFollowCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "follow RUN_ID",
		Short: "Stream a run's plan and apply logs until it ends; fail if it errored, was canceled or discarded",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := runArg(newClient, args[0])
			if err != nil {
				return err
			}
			return c.follow(cmd.Context(), stdout, id, false)
		},
	}
}

func (c *tfeClient) readRun(ctx context.Context, id string) (*tfe.Run, error) {
	r, err := c.api.Runs.Read(ctx, id)
	return r, explain(err, "run "+id)
}

// follow streams run id's plan log and then, if the run goes on to apply,
// its apply log, each as it grows (go-tfe's log readers poll until the
// phase has ended), and reports how the run ended. fromApply skips the
// plan, which was shown before the run was confirmed.
func (c *tfeClient) follow(ctx context.Context, out io.Writer, id string, fromApply bool) error {
	r, err := c.readRun(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Following run %s (%s); Ctrl-C stops following, not the run.\n", r.ID, r.Status)
	if !fromApply {
		if r.Plan == nil {
			return fmt.Errorf("run %s has no plan", id)
		}
		fmt.Fprintf(out, "\n--- plan %s ---\n", r.Plan.ID)
		if err := streamLog(ctx, out, c.api.Plans.Logs, r.Plan.ID, "plan"); err != nil {
			return err
		}
		if r, err = c.readRun(ctx, id); err != nil {
			return err
		}
	}
	if reachedApply(r) && r.Apply != nil {
		fmt.Fprintf(out, "\n--- apply %s ---\n", r.Apply.ID)
		if err := streamLog(ctx, out, c.api.Applies.Logs, r.Apply.ID, "apply"); err != nil {
			return err
		}
		if r, err = c.readRun(ctx, id); err != nil {
			return err
		}
	}
	if r.Status == tfe.RunPlanned {
		fmt.Fprintf(out, "\nRun %s is planned and waits for confirmation. To apply it:\n  runcred run apply %s\n", r.ID, r.ID)
	} else if r.Status == tfe.RunPostPlanAwaitingDecision {
		fmt.Fprintf(out, "\nRun %s failed mandatory policies and waits for a decision. To override them (needs the\n"+
			"manage-policy-overrides permission):\n  runcred run override %s --reason '...'\nor discard it:\n  runcred run discard %s\n", r.ID, r.ID, r.ID)
	} else {
		fmt.Fprintf(out, "\nRun %s: %s\n", r.ID, r.Status)
	}
	return runOutcome(r.ID, r.Status)
}

// streamLog copies phase id's log to out as it grows. go-tfe's reader can
// end early: every tenth poll that finds nothing new it asks whether the
// phase has ended, and a phase that ended between that poll and the
// question ends the read before its last chunk. So once it ends, the log,
// now complete, is read again and what the first read missed is written.
func streamLog(ctx context.Context, out io.Writer, logs func(context.Context, string) (io.Reader, error), id, phase string) error {
	log, err := logs(ctx, id)
	if err != nil {
		return explain(err, phase+" "+id)
	}
	n, err := io.Copy(out, log)
	if err != nil {
		return explain(err, "log of "+phase+" "+id)
	}
	if log, err = logs(ctx, id); err != nil {
		return explain(err, phase+" "+id)
	}
	if _, err := io.CopyN(io.Discard, log, n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // nothing was missed
		}
		return explain(err, "log of "+phase+" "+id)
	}
	if _, err := io.Copy(out, log); err != nil {
		return explain(err, "log of "+phase+" "+id)
	}
	return nil
}

// reachedApply reports whether run r went on to apply, so it has an apply log.
func reachedApply(r *tfe.Run) bool {
	switch r.Status {
	case tfe.RunConfirmed, tfe.RunApplyQueued, tfe.RunApplying, tfe.RunApplied:
		return true
	case tfe.RunErrored, tfe.RunCanceled:
		return r.StatusTimestamps != nil && !r.StatusTimestamps.ApplyQueuedAt.IsZero()
	}
	return false
}

// runOutcome is the result of following a run that is now st: success for
// a run that applied, finished planning, or waits for confirmation; an
// error (a non-zero exit) for one that errored, was canceled or discarded,
// or has not ended.
func runOutcome(id string, st tfe.RunStatus) error {
	switch st {
	case tfe.RunApplied, tfe.RunPlannedAndFinished, tfe.RunPlanned:
		return nil
	case tfe.RunErrored, tfe.RunCanceled, tfe.RunDiscarded:
		return fmt.Errorf("run %s ended %s", id, st)
	}
	return fmt.Errorf("run %s is still %s", id, st)
}

func runApplyCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	var (
		comment  string
		noFollow bool
	)
	cmd := &cobra.Command{
		Use:   "apply RUN_ID",
		Short: "Confirm a planned run, then follow its apply",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := runArg(newClient, args[0])
			if err != nil {
				return err
			}
			var o tfe.RunApplyOptions
			if comment != "" {
				o.Comment = tfe.String(comment)
			}
			if err := c.api.Runs.Apply(cmd.Context(), id, o); err != nil {
				return explain(err, "run "+id)
			}
			fmt.Fprintf(stdout, "Confirmed run %s\n", id)
			if noFollow {
				return nil
			}
			return c.follow(cmd.Context(), stdout, id, true)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why the run is applied")
	cmd.Flags().BoolVar(&noFollow, "no-follow", false, "return once the run is confirmed")
	return cmd
}

// runActionCmd makes discard, cancel and force-cancel, which differ only in name.
func runActionCmd(newClient func() (*tfeClient, error), stdout io.Writer, action, short, done string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " RUN_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := runArg(newClient, args[0])
			if err != nil {
				return err
			}
			switch action {
			case "discard":
				err = c.api.Runs.Discard(cmd.Context(), id, tfe.RunDiscardOptions{})
			case "force-cancel":
				err = c.api.Runs.ForceCancel(cmd.Context(), id, tfe.RunForceCancelOptions{})
			default:
				err = c.api.Runs.Cancel(cmd.Context(), id, tfe.RunCancelOptions{})
			}
			if err != nil {
				return explain(err, "run "+id)
			}
			_, err = fmt.Fprintf(stdout, "%s run %s\n", done, id)
			return err
		},
	}
}

func runShowCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run's status and when it reached each status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := runArg(newClient, args[0])
			if err != nil {
				return err
			}
			r, err := c.readRun(cmd.Context(), id)
			if err != nil {
				return err
			}
			ws := "-"
			if r.Workspace != nil {
				ws = r.Workspace.ID
				// The name is a convenience: a token that may read the run
				// but not its workspace still sees the run.
				if w, err := c.api.Workspaces.ReadByID(cmd.Context(), r.Workspace.ID); err == nil && w.Organization != nil {
					ws = fmt.Sprintf("%s/%s (%s)", w.Organization.Name, w.Name, w.ID)
				}
			}
			err = printFields(stdout, append([][2]string{
				{"Run", r.ID}, {"Workspace", ws}, {"Status", string(r.Status)}, {"Message", orDash(r.Message)},
				{"Plan only", strconv.FormatBool(r.PlanOnly)}, {"Auto apply", strconv.FormatBool(r.AutoApply)},
				{"Destroy", strconv.FormatBool(r.IsDestroy)}, {"Has changes", strconv.FormatBool(r.HasChanges)},
				{"Created", stamp(r.CreatedAt)},
			}, runOptionFields(r)...))
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "Status timestamps:")
			tw := newTable(stdout)
			for _, s := range statusTimes(r.StatusTimestamps) {
				fmt.Fprintf(tw, "  %s\t%s\n", s.name, stamp(s.at))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return c.printChecks(cmd.Context(), stdout, r.ID)
		},
	}
}

type statusTime struct {
	name string
	at   time.Time
}

// statusTimes lists the statuses run timestamps record, in the order they
// were reached.
func statusTimes(ts *tfe.RunStatusTimestamps) []statusTime {
	if ts == nil {
		return nil
	}
	var out []statusTime
	for _, s := range []statusTime{
		{"plan-queued", ts.PlanQueuedAt}, {"planning", ts.PlanningAt}, {"planned", ts.PlannedAt},
		{"planned-and-finished", ts.PlannedAndFinishedAt}, {"confirmed", ts.ConfirmedAt},
		{"apply-queued", ts.ApplyQueuedAt}, {"applying", ts.ApplyingAt}, {"applied", ts.AppliedAt},
		{"discarded", ts.DiscardedAt}, {"errored", ts.ErroredAt}, {"canceled", ts.CanceledAt},
		{"force-canceled", ts.ForceCanceledAt},
	} {
		if !s.at.IsZero() {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

func runListCmd(newClient func() (*tfeClient, error), stdout io.Writer) *cobra.Command {
	const shown = 20
	return &cobra.Command{
		Use:   "list ORG/NAME",
		Short: fmt.Sprintf("List a workspace's %d most recent runs", shown),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ref, ws, err := workspaceArg(cmd.Context(), newClient, args[0])
			if err != nil {
				return err
			}
			page, err := c.api.Runs.List(cmd.Context(), ws.ID, &tfe.RunListOptions{ListOptions: tfe.ListOptions{PageNumber: 1, PageSize: shown}})
			if err != nil {
				return explain(err, "runs of workspace "+ref.String())
			}
			tw := newTable(stdout)
			fmt.Fprintln(tw, "ID\tSTATUS\tCREATED\tMESSAGE")
			for _, r := range page.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Status, stamp(r.CreatedAt), orDash(r.Message))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.Pagination != nil && page.Pagination.TotalCount > len(page.Items) {
				fmt.Fprintf(stdout, "(the %d most recent of %d runs)\n", len(page.Items), page.Pagination.TotalCount)
			}
			return nil
		},
	}
}
