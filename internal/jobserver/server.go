// Package jobserver serves the agent protocol (internal/jobapi) on
// runcred's server. It only translates HTTP: every decision (which phase a
// job is, whether its token may act on it, what to mint) is the run
// lifecycle's (platform/run).
package jobserver

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/metrics"
	"github.com/runcred/runcred/internal/platform/run"
	"github.com/runcred/runcred/internal/platform/state"
	"github.com/runcred/runcred/internal/respond"
)

// Server serves the protocol. The daemon's middleware has put the caller
// named by the request's token into the request context; every decision is
// run.Service's.
type Server struct {
	Runs   *run.Service
	Logger *slog.Logger
	// Stopping, closed when the server shuts down, ends long polls at once.
	Stopping <-chan struct{}
	// Metrics, when set, times claims and counts mints by audience.
	Metrics *metrics.Metrics
}

// otherNodes is how often a waiting claim looks for runs that another
// node queued, which wake no waiter here.
const otherNodes = time.Second

// Mount registers the routes on mux.
func (s Server) Mount(mux *http.ServeMux) {
	route := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, phase string) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			phase := r.PathValue("phase")
			// The caller is authorized for the phase before any body is read.
			if phase != "" {
				if err := s.Runs.AuthorizeJob(r.Context(), phase); err != nil {
					respond.Error(w, r, s.Logger, err)
					return
				}
			}
			if err := fn(w, r, phase); err != nil {
				respond.Error(w, r, s.Logger, err)
			}
		})
	}
	route("POST "+jobapi.Prefix+"/pools/{pool}/jobs", s.claim)
	route("GET "+jobapi.Prefix+"/jobs/{phase}", s.status)
	route("GET "+jobapi.Prefix+"/jobs/{phase}/inputs", s.inputs)
	route("POST "+jobapi.Prefix+"/jobs/{phase}/identity", s.mint)
	route("POST "+jobapi.Prefix+"/jobs/{phase}/logs", s.logs)
	route("PUT "+jobapi.Prefix+"/jobs/{phase}/plan-file", s.planFile)
	route("PUT "+jobapi.Prefix+"/jobs/{phase}/plan-json", s.planJSON)
	route("PUT "+jobapi.Prefix+"/jobs/{phase}/state", s.state)
	route("POST "+jobapi.Prefix+"/jobs/{phase}/finish", s.finish)
}

// claim claims the pool's next job. With ?wait=N (seconds, at most
// jobapi.MaxWait) it waits that long for one to be queued before answering 204,
// so an idle agent neither polls hard nor leaves a run waiting.
func (s Server) claim(w http.ResponseWriter, r *http.Request, _ string) error {
	pool := r.PathValue("pool")
	if pool == jobapi.DefaultPool {
		pool = ""
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > jobapi.MaxWait {
			return fail.Invalidf("wait must be a whole number of seconds from 0 to %d", int(jobapi.MaxWait/time.Second))
		}
		wait = time.Duration(n) * time.Second
	}
	start := time.Now()
	deadline := start.Add(wait)
	var cj *run.ClaimedJob
	for {
		changed := s.Runs.JobsChanged() // before claiming, so no wake is missed
		var err error
		if cj, err = s.Runs.Claim(r.Context(), pool); err != nil {
			return err
		}
		left := time.Until(deadline)
		if cj != nil || left <= 0 {
			break
		}
		t := time.NewTimer(min(left, otherNodes))
		select {
		case <-changed:
		case <-t.C:
		case <-r.Context().Done():
		case <-s.Stopping:
		}
		t.Stop()
		if r.Context().Err() != nil || stopped(s.Stopping) {
			break
		}
	}
	s.Metrics.ClaimWait(time.Since(start))
	if cj == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	sub := cj.Subject
	respond.JSON(w, http.StatusOK, jobapi.JobWire{Token: cj.Token.RevealString(), RunToken: cj.RunToken.RevealString(), Job: jobapi.Job{
		Phase: cj.Phase, PhaseID: cj.PhaseID, RunID: cj.Run.ID, TokenExpires: cj.Expires,
		Organization: sub.Organization, Project: sub.Project, ProjectID: sub.ProjectID,
		Workspace: sub.Workspace, WorkspaceID: sub.WorkspaceID,
		WorkingDirectory: cj.Workspace.WorkingDirectory, TerraformVersion: cj.Workspace.TerraformVersion,
		ConfigurationVersionID: cj.Run.ConfigurationVersionID, IsDestroy: cj.Run.IsDestroy, Message: cj.Run.Message,
		NoRefresh: !cj.Run.Refresh, RefreshOnly: cj.Run.RefreshOnly, TargetAddrs: cj.Run.TargetAddrs, ReplaceAddrs: cj.Run.ReplaceAddrs,
		PhaseTimeout: cj.Workspace.PhaseTimeout, PlanOnly: cj.Run.PlanOnly,
	}})
	return nil
}

func (s Server) status(w http.ResponseWriter, r *http.Request, phase string) error {
	st, req, err := s.Runs.JobStatus(r.Context(), phase)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, jobapi.Status{Status: string(st), CancelRequested: req})
	return nil
}

func (s Server) inputs(w http.ResponseWriter, r *http.Request, phase string) error {
	in, err := s.Runs.JobInputs(r.Context(), phase)
	if err != nil {
		return err
	}
	out := jobapi.Inputs{Archive: in.Archive, State: in.State, PlanFile: in.PlanFile, Variables: make([]jobapi.Variable, 0, len(in.Variables))}
	for _, v := range in.Variables {
		out.Variables = append(out.Variables, jobapi.Variable{Key: v.Key, Value: v.Value.RevealString(), Category: v.Category, HCL: v.HCL, Sensitive: v.Sensitive})
	}
	respond.JSON(w, http.StatusOK, out)
	return nil
}

func (s Server) mint(w http.ResponseWriter, r *http.Request, phase string) error {
	var audience string
	tok, err := s.Runs.MintForJob(r.Context(), phase, func() (string, error) {
		var req jobapi.MintRequest
		err := decode(r, &req)
		audience = req.Audience
		return req.Audience, err
	})
	if err != nil {
		return err
	}
	if audience == "" {
		audience = "default"
	}
	s.Metrics.Mint(audience)
	respond.JSON(w, http.StatusOK, jobapi.MintResponse{Token: tok.Token.RevealString(), JTI: tok.JTI, ExpiresAt: tok.ExpiresAt.Unix()})
	return nil
}

func (s Server) logs(w http.ResponseWriter, r *http.Request, phase string) error {
	b, err := respond.ReadBodyUpTo(r, run.MaxLogChunk)
	if err != nil {
		return err
	}
	return noContent(w, s.Runs.AppendLog(r.Context(), phase, b))
}

func (s Server) planFile(w http.ResponseWriter, r *http.Request, phase string) error {
	b, err := respond.ReadBodyUpTo(r, run.MaxPlanFile)
	if err != nil {
		return err
	}
	return noContent(w, s.Runs.StorePlanFile(r.Context(), phase, b))
}

func (s Server) planJSON(w http.ResponseWriter, r *http.Request, phase string) error {
	b, err := respond.ReadBodyUpTo(r, run.MaxPlanJSON)
	if err != nil {
		return err
	}
	return noContent(w, s.Runs.StorePlanJSON(r.Context(), phase, b))
}

func (s Server) state(w http.ResponseWriter, r *http.Request, phase string) error {
	b, err := respond.ReadBodyUpTo(r, state.MaxSize)
	if err != nil {
		return err
	}
	_, err = s.Runs.StoreJobState(r.Context(), phase, b)
	return noContent(w, err)
}

func (s Server) finish(w http.ResponseWriter, r *http.Request, phase string) error {
	var f jobapi.Finish
	if err := decode(r, &f); err != nil {
		return err
	}
	_, err := s.Runs.FinishPhase(r.Context(), phase, run.PhaseReport{
		Canceled: f.Canceled, Errored: f.Errored, Message: f.Message, HasChanges: f.HasChanges,
		Counts: run.ResourceCounts{Additions: f.Additions, Changes: f.Changes, Destructions: f.Destructions},
	})
	return noContent(w, err)
}

func noContent(w http.ResponseWriter, err error) error {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
	}
	return err
}

// decode parses a small JSON request body, refusing unknown fields.
func decode(r *http.Request, v any) error {
	raw, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	return respond.DecodeStrict(raw, v, "request body")
}

func stopped(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
