package rotation

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/respond"
)

// Handlers serves rotations on runcred's own API.
type Handlers struct {
	Service *Service
	Logger  *slog.Logger
}

// Mount registers:
//
//	POST /api/runcred/v1/mounts/{mount}/rotate              rotate now (the finished rotation)
//	GET  /api/runcred/v1/mounts/{mount}/rotations           the mount's latest rotations
//	GET  /api/runcred/v1/mounts/{mount}/rotation-schedule   its schedule
//	PUT  /api/runcred/v1/mounts/{mount}/rotation-schedule   {"period": "720h"}; "0s" removes it
//	GET  /api/runcred/v1/rotations/{id}                     one rotation
func (h Handlers) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/runcred/v1/mounts/{mount}/rotate", h.rotate)
	mux.HandleFunc("GET /api/runcred/v1/mounts/{mount}/rotations", h.list)
	mux.HandleFunc("GET /api/runcred/v1/mounts/{mount}/rotation-schedule", h.getSchedule)
	mux.HandleFunc("PUT /api/runcred/v1/mounts/{mount}/rotation-schedule", h.putSchedule)
	mux.HandleFunc("GET /api/runcred/v1/rotations/{id}", h.get)
}

func (h Handlers) rotate(w http.ResponseWriter, r *http.Request) {
	rot, err := h.Service.Rotate(r.Context(), r.PathValue("mount"))
	if err != nil && rot.ID != "" && committed(rot.State) && !rot.State.Finished() {
		// Past the commit point, a step that cannot finish yet is retried
		// by the server: accepted, and the rotation says where it is.
		respond.JSON(w, http.StatusAccepted, rot)
		return
	}
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	respond.JSON(w, http.StatusOK, rot)
}

func (h Handlers) list(w http.ResponseWriter, r *http.Request) {
	rots, err := h.Service.List(r.Context(), r.PathValue("mount"))
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	if rots == nil {
		rots = []Rotation{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"rotations": rots})
}

func (h Handlers) get(w http.ResponseWriter, r *http.Request) {
	rot, err := h.Service.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	respond.JSON(w, http.StatusOK, rot)
}

// scheduleJSON is a schedule on the wire.
type scheduleJSON struct {
	Mount  string     `json:"mount"`
	Period string     `json:"period"`
	NextAt *time.Time `json:"next_at,omitempty"`
}

func wireSchedule(s Schedule) scheduleJSON {
	out := scheduleJSON{Mount: s.Mount, Period: s.Period.String()}
	if s.Period > 0 {
		out.NextAt = &s.NextAt
	}
	return out
}

func (h Handlers) getSchedule(w http.ResponseWriter, r *http.Request) {
	s, ok, err := h.Service.GetSchedule(r.Context(), r.PathValue("mount"))
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	if !ok {
		s = Schedule{Mount: r.PathValue("mount") + "/"}
	}
	respond.JSON(w, http.StatusOK, wireSchedule(s))
}

func (h Handlers) putSchedule(w http.ResponseWriter, r *http.Request) {
	raw, err := respond.ReadBody(r)
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	var in struct {
		Period string `json:"period"`
	}
	if err := respond.DecodeStrict(raw, &in, "rotation schedule"); err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	period, err := time.ParseDuration(in.Period)
	if err != nil || period < 0 {
		respond.Error(w, r, h.Logger, fail.Invalidf("period: %q is not a duration such as 720h (0s removes the schedule)", fail.Clip(in.Period)))
		return
	}
	s, err := h.Service.SetSchedule(r.Context(), r.PathValue("mount"), period)
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	respond.JSON(w, http.StatusOK, wireSchedule(s))
}
