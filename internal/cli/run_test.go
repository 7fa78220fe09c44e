package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/platform/configversion"
	"github.com/runcred/runcred/internal/platform/run"
)

// configDir writes a small configuration with the things run start must
// leave out, and returns it.
func configDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"main.tf":                             `resource "terraform_data" "x" {}` + "\n",
		".terraform.lock.hcl":                 "# lock\n",
		"modules/net/net.tf":                  "# net\n",
		".terraform/providers/p/bin":          "provider binary",
		".git/HEAD":                           "ref: refs/heads/main\n",
		"modules/net/.git":                    "gitdir: elsewhere\n",
		"terraform.tfstate":                   `{"secret":"local state"}`,
		"terraform.tfstate.backup":            `{"secret":"old state"}`,
		"modules/net/terraform.tfstate":       `{"secret":"nested state"}`,
		"modules/net/.terraform/modules.json": "{}",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("main.tf", filepath.Join(dir, "link.tf")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wantEntries is what configDir's archive holds.
var wantEntries = []string{".terraform.lock.hcl", "empty/", "link.tf -> main.tf", "main.tf", "modules/", "modules/net/", "modules/net/net.tf"}

// entries lists a tar.gz's entries (symlinks with their targets) and reads
// main.tf.
func entries(t *testing.T, archive []byte) ([]string, string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	var mainTF string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := h.Name
		if h.Typeflag == tar.TypeSymlink {
			name += " -> " + h.Linkname
		}
		names = append(names, name)
		if h.Name == "main.tf" {
			b, _ := io.ReadAll(tr)
			mainTF = string(b)
		}
	}
	slices.Sort(names)
	return names, mainTF
}

func TestPackDirSkipsCachesHistoryAndLocalState(t *testing.T) {
	dir := configDir(t)
	buf, files, err := packDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := configversion.ValidateArchive(buf.Bytes()); err != nil {
		t.Fatalf("the server would refuse the archive: %v", err)
	}
	names, mainTF := entries(t, buf.Bytes())
	if !slices.Equal(names, wantEntries) || files != 3 {
		t.Fatalf("archive holds %d files %q, want 3 files %q", files, names, wantEntries)
	}
	if !strings.Contains(mainTF, "terraform_data") {
		t.Fatalf("main.tf in the archive is %q", mainTF)
	}

	// A symlink to the directory is packed as the directory.
	link := filepath.Join(t.TempDir(), "cfg")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	buf, _, err = packDir(link)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := entries(t, buf.Bytes()); !slices.Equal(names, wantEntries) {
		t.Fatalf("through a symlink the archive holds %q", names)
	}

	for _, bad := range []string{filepath.Join(dir, "main.tf"), filepath.Join(dir, "missing")} {
		if _, _, err := packDir(bad); fail.KindOf(err) != fail.Invalid {
			t.Errorf("packDir(%s) = %v, want an invalid-input error", bad, err)
		}
	}
}

var runIDOut = regexp.MustCompile(`Run (run-[A-Za-z0-9]+) created`)

// start runs `run start --no-follow` and returns the run's ID.
func (s *testServer) start(ws, dir string, args ...string) string {
	s.t.Helper()
	out := s.ok(append([]string{"run", "start", ws, dir, "--no-follow"}, args...)...)
	m := runIDOut.FindStringSubmatch(out)
	if m == nil {
		s.t.Fatalf("run start printed no run ID:\n%s", out)
	}
	return m[1]
}

func (s *testServer) readRun(id string) *tfe.Run {
	s.t.Helper()
	r, err := s.api().Runs.Read(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// claim plays an agent claiming the next job, waiting until there is one.
func (s *testServer) claim(ctx context.Context, runID string, phase jobapi.Phase) (*run.ClaimedJob, error) {
	for {
		job, err := s.D.Platform.Runs.Claim(rootCtx(), "")
		if err != nil {
			return nil, err
		}
		if job != nil {
			if job.Run.ID != runID || job.Phase != phase {
				return nil, fmt.Errorf("claimed %s of %s, want %s of %s", job.Phase, job.Run.ID, phase, runID)
			}
			return job, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s job for %s: %w", phase, runID, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// plan plays an agent planning runID: it logs each chunk and finishes.
func (s *testServer) plan(ctx context.Context, runID string, changes bool, log ...string) error {
	job, err := s.claim(ctx, runID, jobapi.Plan)
	if err != nil {
		return err
	}
	for _, chunk := range log {
		if err := s.D.Platform.Runs.AppendLog(rootCtx(), job.PhaseID, []byte(chunk)); err != nil {
			return err
		}
	}
	_, err = s.D.Platform.Runs.FinishPhase(rootCtx(), job.PhaseID, run.PhaseReport{HasChanges: changes, Counts: run.ResourceCounts{Additions: 1}})
	return err
}

// apply plays an agent applying runID: it stores state, logs and finishes.
func (s *testServer) apply(ctx context.Context, runID string, state []byte, log ...string) error {
	job, err := s.claim(ctx, runID, jobapi.Apply)
	if err != nil {
		return err
	}
	if _, err := s.D.Platform.Runs.StoreStateVersion(rootCtx(), runID, state); err != nil {
		return err
	}
	for _, chunk := range log {
		if err := s.D.Platform.Runs.AppendLog(rootCtx(), job.PhaseID, []byte(chunk)); err != nil {
			return err
		}
	}
	_, err = s.D.Platform.Runs.FinishPhase(rootCtx(), job.PhaseID, run.PhaseReport{Counts: run.ResourceCounts{Additions: 1}})
	return err
}

// agentCtx bounds how long a test's agent waits for work, so a broken
// command fails the test instead of hanging it.
func agentCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestRunStartUploadsAndQueues(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	dir := configDir(t)

	out := s.ok("run", "start", "demo/ws1", dir, "--no-follow", "-m", "first run")
	id := runIDOut.FindStringSubmatch(out)[1]
	if !strings.Contains(out, "(3 files,") || !strings.Contains(out, s.D.URL()+"/app/runs/"+id) || strings.Contains(out, "Following") {
		t.Fatalf("run start printed:\n%s", out)
	}
	r := s.readRun(id)
	if r.Status != tfe.RunPlanQueued || r.Message != "first run" || r.PlanOnly {
		t.Fatalf("run is %s %q plan-only=%t", r.Status, r.Message, r.PlanOnly)
	}
	archive, err := s.D.Platform.ConfigurationVersions.Archive(rootCtx(), r.ConfigurationVersion.ID)
	if err != nil {
		t.Fatal(err)
	}
	if names, mainTF := entries(t, archive); !slices.Equal(names, wantEntries) || !strings.Contains(mainTF, "terraform_data") {
		t.Fatalf("the server got %q (main.tf %q), want %q", names, mainTF, wantEntries)
	}
	cv, err := s.api().ConfigurationVersions.Read(context.Background(), r.ConfigurationVersion.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cv.AutoQueueRuns || cv.Speculative || cv.Status != tfe.ConfigurationUploaded {
		t.Fatalf("configuration version: auto-queue %t, speculative %t, %s", cv.AutoQueueRuns, cv.Speculative, cv.Status)
	}

	// A second run waits behind the first; canceling the first promotes it.
	second := s.start("demo/ws1", dir, "--plan-only")
	if r := s.readRun(second); r.Status != tfe.RunPending || !r.PlanOnly {
		t.Fatalf("second run is %s, plan-only %t", r.Status, r.PlanOnly)
	}
	out = s.ok("run", "list", "demo/ws1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], second+"  pending") || !strings.HasPrefix(lines[2], id+"  plan_queued") || !strings.Contains(lines[2], "first run") {
		t.Fatalf("run list printed:\n%s", out)
	}
	out = s.ok("run", "show", id)
	for _, want := range []string{"Run:", id, "Workspace:", "demo/ws1 (ws-", "Status:       plan_queued", "Message:      first run", "plan-queued "} {
		if !strings.Contains(out, want) {
			t.Errorf("run show does not print %q:\n%s", want, out)
		}
	}
	if out := s.ok("run", "cancel", id); out != "Canceled run "+id+"\n" {
		t.Fatalf("cancel printed %q", out)
	}
	if r := s.readRun(second); r.Status != tfe.RunPlanQueued {
		t.Fatalf("after the first run was canceled the second is %s", r.Status)
	}
	out = s.ok("run", "show", id)
	if !strings.Contains(out, "Status:       canceled") || !strings.Contains(out, "canceled ") {
		t.Fatalf("run show of the canceled run:\n%s", out)
	}

	s.fails(s.Token, 1, "workspace demo/nope not found", "run", "start", "demo/nope", dir, "--no-follow")
	s.fails(s.Token, 2, "is not a directory", "run", "start", "demo/ws1", filepath.Join(dir, "main.tf"))
	s.fails(s.Token, 2, "is not ORG/NAME", "run", "start", "ws1", dir)
	s.fails(s.Token, 2, "is not a run ID", "run", "show", "ws-123")
	s.fails(s.Token, 1, "run run-doesnotexist1 not found", "run", "show", "run-doesnotexist1")
	s.fails(s.Token, 1, "run run-doesnotexist1 not found", "run", "follow", "run-doesnotexist1")
}

// Canceled, discarded and errored runs make follow fail; a planned run
// waiting for confirmation does not, and follow says how to apply it.
func TestRunFollowExitCodes(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	dir := configDir(t)
	ctx := agentCtx(t)

	queued := s.start("demo/ws1", dir)
	s.fails(s.Token, 1, "cannot be discarded: it is plan_queued", "run", "discard", queued)
	s.ok("run", "cancel", queued)
	r := s.runcred("", "run", "follow", queued)
	if r.code != 1 || !strings.Contains(r.stderr, "run "+queued+" ended canceled") || !strings.Contains(r.stdout, "Run "+queued+": canceled") {
		t.Fatalf("follow of a canceled run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.fails(s.Token, 1, "cannot be canceled: it is canceled", "run", "cancel", queued)
	s.fails(s.Token, 1, "cannot be force-canceled: it is canceled", "run", "force-cancel", queued)

	// A planning run: force-cancel ends it without its agent.
	stuck := s.start("demo/ws1", dir)
	if _, err := s.claim(ctx, stuck, jobapi.Plan); err != nil {
		t.Fatal(err)
	}
	if out := s.ok("run", "force-cancel", stuck); out != "Force-canceled run "+stuck+"\n" {
		t.Fatalf("force-cancel: %q", out)
	}
	if r := s.readRun(stuck); r.Status != tfe.RunCanceled {
		t.Fatalf("force-canceled run is %s", r.Status)
	}

	planned := s.start("demo/ws1", dir)
	if err := s.plan(ctx, planned, true, "Plan: 1 to add, 0 to change, 0 to destroy.\n"); err != nil {
		t.Fatal(err)
	}
	r = s.runcred("", "run", "follow", planned)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: 1 to add") || !strings.Contains(r.stdout, "runcred run apply "+planned) {
		t.Fatalf("follow of a planned run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := s.ok("run", "discard", planned); out != "Discarded run "+planned+"\n" {
		t.Fatalf("discard printed %q", out)
	}
	r = s.runcred("", "run", "follow", planned)
	if r.code != 1 || !strings.Contains(r.stderr, "run "+planned+" ended discarded") || !strings.Contains(r.stdout, "Plan: 1 to add") {
		t.Fatalf("follow of a discarded run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.fails(s.Token, 1, "cannot be applied: it is discarded", "run", "apply", planned)

	errored := s.start("demo/ws1", dir)
	job, err := s.claim(ctx, errored, jobapi.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.D.Platform.Runs.AppendLog(rootCtx(), job.PhaseID, []byte("Error: Unsupported argument\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.D.Platform.Runs.FinishPhase(rootCtx(), job.PhaseID, run.PhaseReport{Errored: true, Message: "tofu plan failed"}); err != nil {
		t.Fatal(err)
	}
	r = s.runcred("", "run", "follow", errored)
	if r.code != 1 || !strings.Contains(r.stderr, "ended errored") || !strings.Contains(r.stdout, "Error: Unsupported argument") {
		t.Fatalf("follow of an errored run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestRunOutcome(t *testing.T) {
	for st, want := range map[tfe.RunStatus]string{
		tfe.RunApplied:            "",
		tfe.RunPlannedAndFinished: "",
		tfe.RunPlanned:            "",
		tfe.RunErrored:            "run run-1 ended errored",
		tfe.RunCanceled:           "run run-1 ended canceled",
		tfe.RunDiscarded:          "run run-1 ended discarded",
		tfe.RunPlanning:           "run run-1 is still planning",
		tfe.RunApplyQueued:        "run run-1 is still apply_queued",
		tfe.RunPending:            "run run-1 is still pending",
	} {
		err := runOutcome("run-1", st)
		if got := fmt.Sprint(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("runOutcome(%s) = %v, want %q", st, err, want)
		}
	}
}

// watched is a stdout that a test can wait on.
type watched struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newWatched() *watched { return &watched{changed: make(chan struct{}, 1)} }

func (w *watched) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (w *watched) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until s has been written.
func (w *watched) waitFor(ctx context.Context, s string) error {
	for !strings.Contains(w.String(), s) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%q never printed: %w", s, ctx.Err())
		case <-w.changed:
		}
	}
	return nil
}

// follow streams the log while the run is still going: the agent writes
// the second half of each log only after follow has printed the first, and
// an auto-apply run is followed through its apply to the end.
func TestRunFollowStreamsLiveToApplied(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/auto", "--create-org", "--auto-apply")
	id := s.start("demo/auto", configDir(t))
	ctx := agentCtx(t)
	state := []byte(`{"version":4,"terraform_version":"1.9.0","serial":1,"lineage":"lin-1","outputs":{},"resources":[]}`)
	out := newWatched()
	agent := make(chan error, 1)
	go func() {
		agent <- func() error {
			job, err := s.claim(ctx, id, jobapi.Plan)
			if err != nil {
				return err
			}
			if err := s.D.Platform.Runs.AppendLog(rootCtx(), job.PhaseID, []byte("plan part one\n")); err != nil {
				return err
			}
			if err := out.waitFor(ctx, "plan part one"); err != nil {
				return err
			}
			if err := s.D.Platform.Runs.AppendLog(rootCtx(), job.PhaseID, []byte("Plan: 1 to add, 0 to change, 0 to destroy.\n")); err != nil {
				return err
			}
			if _, err := s.D.Platform.Runs.FinishPhase(rootCtx(), job.PhaseID, run.PhaseReport{HasChanges: true}); err != nil {
				return err
			}
			if err := s.apply(ctx, id, state, "apply part one\n"); err != nil {
				return err
			}
			return nil
		}()
	}()
	var errb bytes.Buffer
	code := Main([]string{"run", "follow", id, "--addr", s.D.URL(), "--token", s.Token}, strings.NewReader(""), out, &errb)
	if err := <-agent; err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("follow: exit %d\n%s%s", code, out, errb.String())
	}
	got := out.String()
	order := []string{"--- plan ", "plan part one", "Plan: 1 to add", "--- apply ", "apply part one", "Run " + id + ": applied"}
	at := 0
	for _, want := range order {
		i := strings.Index(got[at:], want)
		if i < 0 {
			t.Fatalf("follow output lacks %q after byte %d:\n%s", want, at, got)
		}
		at += i + len(want)
	}
	if pulled := s.ok("state", "pull", "demo/auto"); pulled != string(state) {
		t.Fatalf("state pull = %q, want %q", pulled, state)
	}
}

// run apply confirms a planned run and follows its apply only.
func TestRunApplyConfirmsAndFollowsTheApply(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	id := s.start("demo/ws1", configDir(t))
	ctx := agentCtx(t)
	if err := s.plan(ctx, id, true, "the plan log\n"); err != nil {
		t.Fatal(err)
	}
	if r := s.readRun(id); r.Status != tfe.RunPlanned {
		t.Fatalf("run is %s, want planned", r.Status)
	}
	state := []byte(`{"version":4,"serial":3,"lineage":"lin-2","resources":[]}`)
	agent := make(chan error, 1)
	go func() {
		agent <- s.apply(ctx, id, state, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.\n")
	}()
	r := s.runcred("", "run", "apply", id, "--comment", "looks right")
	if err := <-agent; err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "Confirmed run "+id) || !strings.Contains(r.stdout, "Apply complete!") ||
		!strings.Contains(r.stdout, "Run "+id+": applied") || strings.Contains(r.stdout, "the plan log") {
		t.Fatalf("run apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := s.ok("state", "pull", "demo/ws1"); got != string(state) {
		t.Fatalf("state pull = %q", got)
	}
	s.fails(s.Token, 1, "cannot be applied: it is applied", "run", "apply", id)
}

// run start without --no-follow follows the run it started; a plan-only
// run ends planned_and_finished, which is success.
func TestRunStartFollowsAPlanOnlyRun(t *testing.T) {
	s := startServer(t)
	s.ok("workspace", "create", "demo/ws1", "--create-org")
	ctx := agentCtx(t)
	agent := make(chan error, 1)
	go func() {
		agent <- func() error {
			// The run does not exist yet: find it as the agent would.
			for {
				job, err := s.D.Platform.Runs.Claim(rootCtx(), "")
				if err != nil {
					return err
				}
				if job != nil {
					if !job.Run.PlanOnly {
						return fmt.Errorf("run %s is not plan-only", job.Run.ID)
					}
					if err := s.D.Platform.Runs.AppendLog(rootCtx(), job.PhaseID, []byte("speculative plan\n")); err != nil {
						return err
					}
					_, err := s.D.Platform.Runs.FinishPhase(rootCtx(), job.PhaseID, run.PhaseReport{HasChanges: true})
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}()
	r := s.runcred("", "run", "start", "demo/ws1", configDir(t), "--plan-only", "-m", "try it")
	if err := <-agent; err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "speculative plan") || !strings.Contains(r.stdout, ": planned_and_finished") {
		t.Fatalf("run start --plan-only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
