package audit

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/respond"
)

// Handlers serves the audit log to operators.
type Handlers struct {
	Log    *Log
	Authz  access.Authorizer
	Logger *slog.Logger
}

// Mount registers GET /api/runcred/v1/audit (?after=SEQ&limit=N, or ?tail=N)
// and GET /api/runcred/v1/audit/verify.
func (h Handlers) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/runcred/v1/audit", h.list)
	mux.HandleFunc("GET /api/runcred/v1/audit/verify", h.verify)
}

func (h Handlers) list(w http.ResponseWriter, r *http.Request) {
	if err := h.Authz.Authorize(r.Context(), "runcred/audit", access.Read); err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	q := r.URL.Query()
	var (
		recs []Record
		err  error
	)
	if q.Has("tail") {
		n, perr := intParam(q.Get("tail"), 1, maxPage)
		if perr != nil {
			respond.Error(w, r, h.Logger, perr)
			return
		}
		recs, err = h.Log.Tail(r.Context(), int(n))
	} else {
		after, perr := intParam(q.Get("after"), 0, 1<<62)
		if q.Get("after") == "" {
			after, perr = 0, nil
		}
		limit, lerr := intParam(q.Get("limit"), 1, maxPage)
		if q.Get("limit") == "" {
			limit, lerr = 100, nil
		}
		if perr = firstErr(perr, lerr); perr != nil {
			respond.Error(w, r, h.Logger, perr)
			return
		}
		recs, err = h.Log.List(r.Context(), after, int(limit))
	}
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	if recs == nil {
		recs = []Record{}
	}
	respond.JSON(w, http.StatusOK, map[string]any{"records": recs})
}

func (h Handlers) verify(w http.ResponseWriter, r *http.Request) {
	if err := h.Authz.Authorize(r.Context(), "runcred/audit", access.Read); err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	rep, err := h.Log.Verify(r.Context())
	if err != nil {
		respond.Error(w, r, h.Logger, err)
		return
	}
	respond.JSON(w, http.StatusOK, rep)
}

func intParam(s string, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, fail.Invalidf("%q is not a whole number from %d to %d", s, min, max)
	}
	return n, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
