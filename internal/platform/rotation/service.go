package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/store"
)

// Rotate rotates the mount at path and returns the finished rotation. The
// caller needs update on sys/mounts/<mount>/rotate. A failure before the
// commit point rolls back (the rotation is returned rolled back, with the
// error); one after it leaves the rotation to be resumed by the server's
// background task, and the error says so.
func (s *Service) Rotate(ctx context.Context, path string) (Rotation, error) {
	name := strings.Trim(path, "/")
	if name == "" {
		return Rotation{}, fail.Invalidf("mount: a mount path is required")
	}
	if err := s.cfg.Authz.Authorize(ctx, permPath(name), access.Update); err != nil {
		return Rotation{}, err
	}
	w, err := resource.WriterOf(ctx)
	if err != nil {
		return Rotation{}, err
	}
	return s.start(ctx, path, string(w.Kind)+" "+w.Name)
}

// start journals a rotation of path and runs it.
func (s *Service) start(ctx context.Context, path, by string) (Rotation, error) {
	mp, err := s.cfg.Broker.RotatableMount(ctx, path)
	if err != nil {
		return Rotation{}, err
	}
	now := s.now().UTC()
	r := Rotation{ID: newID(), Mount: mp, NewPath: NewPath(mp), State: Planned, RequestedBy: by, CreatedAt: now, UpdatedAt: now}
	held := now.Add(s.cfg.Claim)
	if err := s.db.insert(ctx, r, held); err != nil {
		return Rotation{}, err
	}
	if err := s.record(ctx, r, "planned", nil); err != nil {
		_ = s.db.release(ctx, r.ID)
		return r, err
	}
	if s.cfg.AfterStep != nil {
		if err := s.cfg.AfterStep(r); err != nil {
			return r, errors.Join(errStopped, err)
		}
	}
	// The steps run as the system, and to the end even if the client
	// that asked goes away.
	return s.run(system(r.ID), r, held)
}

// Get returns rotation id; the caller needs read on its mount's rotate path.
func (s *Service) Get(ctx context.Context, id string) (Rotation, error) {
	r, err := s.db.get(ctx, id)
	if err != nil {
		return Rotation{}, err
	}
	if err := s.cfg.Authz.Authorize(ctx, permPath(r.Mount), access.Read); err != nil {
		return Rotation{}, err
	}
	return r, nil
}

// List returns the latest rotations from or to the mount at path.
func (s *Service) List(ctx context.Context, path string) ([]Rotation, error) {
	name := strings.Trim(path, "/")
	if name == "" {
		return nil, fail.Invalidf("mount: a mount path is required")
	}
	if err := s.cfg.Authz.Authorize(ctx, permPath(name), access.Read); err != nil {
		return nil, err
	}
	return s.db.list(ctx, name+"/", 20)
}

// run moves r on, step by step, until it is over, it fails after the
// commit point (left for the background task), or AfterStep stops it.
func (s *Service) run(ctx context.Context, r Rotation, held time.Time) (Rotation, error) {
	for !r.State.Finished() {
		until := s.now().Add(s.cfg.Claim)
		if ok, err := s.db.claim(ctx, r.ID, s.now(), until, &held, false); err != nil || !ok {
			return r, errors.Join(err, fail.Conflictf("rotation %s is no longer held here", r.ID))
		}
		held = until
		from := r.State
		to, detail, err := s.step(ctx, &r)
		if err != nil {
			if !committed(from) {
				return s.rollback(ctx, r, err)
			}
			r.Error, r.UpdatedAt = fail.Message(err), s.now().UTC()
			if serr := s.db.save(ctx, r, from); serr != nil {
				s.log.Warn("rotation: journal the error", "rotation", r.ID, "err", serr)
			}
			_ = s.db.release(ctx, r.ID)
			return r, fail.Wrap(fail.Unavailable, err, fmt.Sprintf("rotation %s of %s stopped after step %q: %s; the server resumes it", r.ID, r.Mount, from, fail.Message(err)))
		}
		r.State, r.Error, r.UpdatedAt = to, "", s.now().UTC()
		// Audit first: if the record cannot be written the journal stays
		// and the (repeatable) step runs again, so no step goes unrecorded.
		if err := s.record(ctx, r, string(to), detail); err != nil {
			r.State = from
			if !committed(from) {
				return s.rollback(ctx, r, err)
			}
			_ = s.db.release(ctx, r.ID)
			return r, err
		}
		if err := s.db.save(ctx, r, from); err != nil {
			return r, err
		}
		if s.cfg.AfterStep != nil {
			if err := s.cfg.AfterStep(r); err != nil {
				return r, errors.Join(errStopped, err)
			}
		}
	}
	_ = s.db.release(ctx, r.ID)
	if r.State == RolledBack {
		return r, fail.Invalidf("rotation %s of %s rolled back: %s", r.ID, r.Mount, r.Error)
	}
	return r, nil
}

// step does the step after r.State and returns the state it reaches and
// what to audit of it. Every step can be repeated.
func (s *Service) step(ctx context.Context, r *Rotation) (State, map[string]any, error) {
	b := s.cfg.Broker
	switch r.State {
	case Planned:
		return MountCreated, nil, b.CloneMount(ctx, r.Mount, r.NewPath)
	case MountCreated:
		// No write may land in the old mount once the copy starts.
		if err := b.FreezeMount(ctx, r.Mount, r.NewPath); err != nil {
			return "", nil, err
		}
		n, err := b.CopyMount(ctx, r.Mount, r.NewPath)
		r.Report.Entries = n
		return DataCopied, map[string]any{"entries": n}, err
	case DataCopied:
		names, err := b.RewritePolicies(ctx, r.Mount, r.NewPath)
		if err != nil {
			return "", nil, err
		}
		r.Report.Policies = appendNew(r.Report.Policies, names...)
		return PoliciesRewritten, map[string]any{"policies": names}, nil
	case PoliciesRewritten:
		vs, err := s.cfg.Variables.RewriteValues(ctx, "mount "+r.Mount+" rotated to "+r.NewPath+" ("+r.ID+")", s.rewrite(r))
		r.Report.Variables = append(r.Report.Variables, vs...)
		if err != nil {
			return "", nil, err
		}
		return VariablesUpdated, map[string]any{"variables": len(r.Report.Variables)}, nil
	case VariablesUpdated:
		return RunsQueued, nil, s.queueRuns(ctx, r)
	case RunsQueued:
		if err := s.runsStarted(ctx, r); err != nil {
			return "", nil, err
		}
		n, err := b.RevokeMountLeases(ctx, r.Mount)
		r.Report.Leases += n
		return LeasesRevoked, map[string]any{"leases": n}, err
	case LeasesRevoked:
		return OldMountRemoved, nil, s.removeOld(ctx, r)
	case OldMountRemoved:
		return Done, nil, nil
	case RollingBack:
		return "", nil, fail.Invalidf("rolling back")
	}
	return "", nil, fmt.Errorf("rotation %s in unknown state %q", r.ID, r.State)
}

// rewrite replaces the old mount's name with the new one's.
func (s *Service) rewrite(r *Rotation) func(string) (string, bool) {
	from, to := strings.Trim(r.Mount, "/"), strings.Trim(r.NewPath, "/")
	return func(v string) (string, bool) { return s.cfg.Replace(v, from, to) }
}

// names reports whether v names the mount at path.
func (s *Service) names(path string) func(string) bool {
	name := strings.Trim(path, "/")
	return func(v string) bool { _, ok := s.cfg.Replace(v, name, ""); return ok }
}

// queueRuns queues a run in every workspace holding the new path (the
// consumers whose variables were rewritten, and any that took the new path
// since), once each: every run is journaled as it is queued.
func (s *Service) queueRuns(ctx context.Context, r *Rotation) error {
	ws, err := s.cfg.Variables.WorkspacesHolding(ctx, s.names(r.NewPath))
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, q := range r.Report.Runs {
		done[q.WorkspaceID] = true
	}
	msg := fmt.Sprintf("Mount %s rotated to %s", strings.Trim(r.Mount, "/"), strings.Trim(r.NewPath, "/"))
	for _, w := range ws {
		if done[w] {
			continue
		}
		q := QueuedRun{WorkspaceID: w}
		id, err := s.cfg.Runs.Queue(ctx, w, msg)
		if err != nil {
			// A workspace that cannot take a run (no configuration yet)
			// does not stop the rotation; the report says why.
			q.Error = fail.Message(err)
		}
		q.RunID = id
		r.Report.Runs = append(r.Report.Runs, q)
		from := r.State
		r.UpdatedAt = s.now().UTC()
		if err := s.db.save(ctx, *r, from); err != nil {
			return err
		}
	}
	return nil
}

// runsStarted refuses, for now, while a run queued by the rotation still
// waits: runs of a workspace start first in, first out, so once it has
// started no earlier run, which may hold the old path in its variables,
// is left to need the old mount.
func (s *Service) runsStarted(ctx context.Context, r *Rotation) error {
	for _, q := range r.Report.Runs {
		if q.RunID == "" {
			continue
		}
		pending, err := s.cfg.Runs.Pending(ctx, q.RunID)
		if err != nil {
			return err
		}
		if pending {
			return fail.Unavailablef("waiting for run %s to start: an earlier run of its workspace may still use %s", q.RunID, r.Mount)
		}
	}
	return nil
}

// removeOld removes the old mount once nothing names it: no policy and no
// variable. A reference that appeared since the rewrites is rewritten too
// (its workspace gets no run of the rotation's); the schedule moves to the
// new path.
func (s *Service) removeOld(ctx context.Context, r *Rotation) error {
	if names, err := s.cfg.Broker.RewritePolicies(ctx, r.Mount, r.NewPath); err != nil {
		return err
	} else {
		r.Report.Policies = appendNew(r.Report.Policies, names...)
	}
	if left, err := s.cfg.Broker.PoliciesNaming(ctx, r.Mount); err != nil {
		return err
	} else if len(left) > 0 {
		return fail.Conflictf("policies %s still name %s", strings.Join(left, ", "), r.Mount)
	}
	vs, err := s.cfg.Variables.RewriteValues(ctx, "mount "+r.Mount+" rotated to "+r.NewPath+" ("+r.ID+")", s.rewrite(r))
	r.Report.Variables = append(r.Report.Variables, vs...)
	if err != nil {
		return err
	}
	if ws, err := s.cfg.Variables.WorkspacesHolding(ctx, s.names(r.Mount)); err != nil {
		return err
	} else if len(ws) > 0 {
		return fail.Conflictf("variables of workspaces %s still name %s", strings.Join(ws, ", "), r.Mount)
	}
	if err := s.db.moveSchedule(ctx, r.Mount, r.NewPath, s.now()); err != nil {
		return err
	}
	return s.cfg.Broker.RemoveMount(ctx, r.Mount)
}

// rollback undoes a rotation that failed before its commit point: the
// new mount goes, the old one takes writes again. The journal says
// rolling_back until it is done, so a crash in between finishes it.
func (s *Service) rollback(ctx context.Context, r Rotation, cause error) (Rotation, error) {
	from := r.State
	if from != RollingBack {
		r.State, r.Error, r.UpdatedAt = RollingBack, fail.Message(cause), s.now().UTC()
		if err := s.db.save(ctx, r, from); err != nil {
			return r, errors.Join(cause, err)
		}
	}
	if err := s.undo(ctx, r); err != nil {
		_ = s.db.release(ctx, r.ID)
		return r, errors.Join(cause, err)
	}
	r.State, r.UpdatedAt = RolledBack, s.now().UTC()
	if err := s.record(ctx, r, string(RolledBack), nil); err != nil {
		return r, errors.Join(cause, err)
	}
	if err := s.db.save(ctx, r, RollingBack); err != nil {
		return r, errors.Join(cause, err)
	}
	return r, fail.Wrap(fail.KindOf(cause), cause, fmt.Sprintf("rotation %s of %s rolled back: %s", r.ID, r.Mount, fail.Message(cause)))
}

func (s *Service) undo(ctx context.Context, r Rotation) error {
	if err := s.cfg.Broker.RemoveMount(ctx, r.NewPath); err != nil {
		return err
	}
	if ok, err := s.cfg.Broker.MountExists(ctx, r.Mount); err != nil || !ok {
		return err
	}
	return s.cfg.Broker.FreezeMount(ctx, r.Mount, "")
}

// record audits a step of r.
func (s *Service) record(ctx context.Context, r Rotation, step string, detail map[string]any) error {
	body := map[string]any{"rotation_id": r.ID, "step": step, "mount": r.Mount, "new_path": r.NewPath, "requested_by": r.RequestedBy}
	for k, v := range detail {
		body[k] = v
	}
	if r.Error != "" {
		body["error"] = r.Error
	}
	if _, err := s.cfg.Audit.Append(ctx, "broker.mount.rotate", body); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return nil
}

// Resume takes every unfinished rotation whose claim has lapsed and runs
// it on (a rollback in progress is finished). It returns how many it took.
func (s *Service) Resume(ctx context.Context) (int, error) { return s.resume(ctx, false) }

// resume is Resume; at start-up on SQLite, which serves one node, the
// claim of a rotation begun before this process started is this node's
// from before a restart, and is taken over at once.
func (s *Service) resume(ctx context.Context, startup bool) (int, error) {
	force := startup && s.cfg.DB.Dialect() == store.SQLite
	ids, err := s.db.unfinished(ctx, s.now(), force, s.started)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		held := s.now().Add(s.cfg.Claim)
		ok, err := s.db.claim(ctx, id, s.now(), held, nil, force)
		if err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		r, err := s.db.get(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
		sys := system(r.ID)
		if r.State == RollingBack {
			if done, err := s.rollback(sys, r, errors.New(r.Error)); done.State != RolledBack {
				errs = append(errs, err)
			}
			continue
		}
		if done, err := s.run(sys, r, held); err != nil && done.State != RolledBack && !errors.Is(err, errStopped) {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		found := false
		for _, l := range list {
			found = found || l == m
		}
		if !found {
			list = append(list, m)
		}
	}
	return list
}
