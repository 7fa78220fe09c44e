package rotation

import (
	"context"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
)

// MinPeriod is the shortest rotation period a schedule may have.
const MinPeriod = time.Hour

// SetSchedule makes the mount at path rotate every period, the first time
// a period from now; a zero period removes the schedule. The caller needs
// update on sys/mounts/<mount>/rotate.
func (s *Service) SetSchedule(ctx context.Context, path string, period time.Duration) (Schedule, error) {
	name := strings.Trim(path, "/")
	if name == "" {
		return Schedule{}, fail.Invalidf("mount: a mount path is required")
	}
	if err := s.cfg.Authz.Authorize(ctx, permPath(name), access.Update); err != nil {
		return Schedule{}, err
	}
	mp, err := s.cfg.Broker.RotatableMount(ctx, path)
	if err != nil {
		return Schedule{}, err
	}
	if period == 0 {
		if err := s.recordSchedule(ctx, mp, 0); err != nil {
			return Schedule{}, err
		}
		return Schedule{Mount: mp}, s.db.deleteSchedule(ctx, mp)
	}
	if period < MinPeriod || period%time.Second != 0 {
		return Schedule{}, fail.Invalidf("period: must be whole seconds and at least %s", MinPeriod)
	}
	sc := Schedule{Mount: mp, Period: period, NextAt: s.now().UTC().Add(period)}
	if err := s.recordSchedule(ctx, mp, period); err != nil {
		return Schedule{}, err
	}
	return sc, s.db.putSchedule(ctx, sc, s.now())
}

// GetSchedule returns the mount's schedule (ok false when it has none).
func (s *Service) GetSchedule(ctx context.Context, path string) (Schedule, bool, error) {
	name := strings.Trim(path, "/")
	if err := s.cfg.Authz.Authorize(ctx, permPath(name), access.Read); err != nil {
		return Schedule{}, false, err
	}
	return s.db.schedule(ctx, name+"/")
}

func (s *Service) recordSchedule(ctx context.Context, mount string, period time.Duration) error {
	c, _ := access.CallerFrom(ctx)
	if _, err := s.cfg.Audit.Append(ctx, "broker.mount.rotation-schedule", map[string]any{
		"mount": mount, "period_seconds": int64(period / time.Second), "by": c.DisplayName, "accessor": c.Accessor,
	}); err != nil {
		return fail.Wrap(fail.Unavailable, err, "audit log unavailable")
	}
	return nil
}

// RotateDue starts the rotation of every mount whose schedule is due; one
// node starts each (the schedule moves on before the rotation starts).
func (s *Service) RotateDue(ctx context.Context) (int, error) {
	now := s.now()
	mounts, err := s.db.due(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range mounts {
		sc, ok, err := s.db.schedule(ctx, m)
		if err != nil || !ok {
			continue
		}
		if won, err := s.db.postpone(ctx, m, now, now.Add(sc.Period)); err != nil || !won {
			continue
		}
		n++
		if _, err := s.start(system("schedule"), m, "schedule"); err != nil {
			s.log.Warn("scheduled mount rotation", "mount", m, "err", err)
		}
	}
	return n, nil
}

// Start resumes unfinished rotations and starts scheduled ones, at once
// and then every Interval, until ctx ends.
func (s *Service) Start(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	startup := true
	for {
		_, err := s.resume(ctx, startup)
		startup = false
		if err != nil && ctx.Err() == nil {
			s.log.Warn("resuming mount rotations", "err", err)
		}
		if _, err := s.RotateDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled mount rotations", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}
