package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/metrics"
	"github.com/runcred/runcred/internal/respond"
	"github.com/runcred/runcred/internal/web"
)

// stateTTL is how long the counts of leases, tokens and runs that /metrics
// shows are reused: scrapes in between cost the database nothing.
const stateTTL = 5 * time.Second

// newMetrics builds the server's metrics and what they count at scrape
// time: leases by state, live tokens and runs by status, each one indexed
// statement, whatever the number of rows.
func (d *Daemon) newMetrics() *metrics.Metrics {
	m := metrics.New()
	m.CountState(func(ctx context.Context) (metrics.State, error) {
		var s metrics.State
		lc, err := d.Broker.LeaseCounts(ctx)
		if err != nil {
			return s, err
		}
		s.LeasesLive, s.LeasesExpiring, s.LeasesIrrevocable = lc.Live, lc.Expiring, lc.Irrevocable
		if s.TokensLive, err = d.Tokens.CountLive(ctx); err != nil {
			return s, err
		}
		s.RunsByStatus, err = d.Platform.Runs.CountByStatus(ctx)
		return s, err
	}, stateTTL)
	return m
}

// serveMetrics serves /metrics in Prometheus' text format. As Vault's
// sys/metrics, it needs a token allowed to read sys/metrics, unless the
// server was started with unauthenticated metrics access.
func (d *Daemon) serveMetrics() http.Handler {
	h := d.metrics.Handler(d.log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.cfg.UnauthenticatedMetrics {
			if err := d.Broker.Authorize(r.Context(), "sys/metrics", "read"); err != nil {
				respond.Error(w, r, d.log, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// observe counts and times every request by API family and status, and
// logs it at debug level: method, route template, status, duration and a
// request id (also sent back as X-Request-Id). The template is the route's
// pattern, never the request's path, so no token, secret id or lease id a
// path may carry is logged; neither is the query or the body.
func (d *Daemon) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID()
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		d.recordRequest(r, sw.code(), time.Since(start), id)
	})
}

func (d *Daemon) recordRequest(r *http.Request, code int, took time.Duration, id string) {
	debug := d.log.Enabled(r.Context(), slog.LevelDebug)
	family, template := d.route(r, debug)
	d.metrics.Request(family, code, took)
	if debug {
		d.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method), slog.String("route", template),
			slog.Int("status", code), slog.Duration("duration", took), slog.String("request_id", id))
	}
}

// route names the request's API family (a small fixed set, for metric
// labels) and, withTemplate (for the access log), its route template.
func (d *Daemon) route(r *http.Request, withTemplate bool) (family, template string) {
	p := r.URL.Path
	if strings.HasPrefix(p, "/v1/") {
		typ, tmpl := d.Broker.Route(r.Context(), p, withTemplate)
		return "v1:" + typ, tmpl
	}
	switch {
	case strings.HasPrefix(p, "/api/v2/"):
		family = "api/v2"
	case strings.HasPrefix(p, "/.well-known/"):
		family = "well-known"
	case strings.HasPrefix(p, web.Prefix):
		family = "app"
	case strings.HasPrefix(p, "/api/runcred/"):
		family = "runcred"
	case p == "/metrics" || p == "/healthz" || p == "/readyz":
		family = "ops"
	default:
		family = "other"
	}
	if !withTemplate {
		return family, ""
	}
	_, pattern := d.top.Handler(r)
	if pattern == "/" { // everything the daemon's own mux serves
		_, pattern = d.mux.Handler(r)
	}
	if pattern == "" {
		pattern = "{unmatched}"
	}
	return family, pattern
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming (event streams, long logs) working through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
