package daemon

import (
	"net/http"
	"net/netip"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/jobserver"
	platformapi "github.com/runcred/runcred/internal/platform/api"
	"github.com/runcred/runcred/internal/platform/rotation"
	"github.com/runcred/runcred/internal/respond"
	"github.com/runcred/runcred/internal/token"
	"github.com/runcred/runcred/internal/web"
)

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	identity.Handlers{Issuer: d.Issuer, Log: d.log}.Mount(mux)
	audit.Handlers{Log: d.Audit, Authz: d.Broker, Logger: d.log}.Mount(mux)
	(&platformapi.API{Service: d.Platform, Logger: d.log}).Mount(mux)
	rotation.Handlers{Service: d.Rotations, Logger: d.log}.Mount(mux)
	jobserver.Server{Runs: d.Platform.Runs, Logger: d.log, Stopping: d.stopping, Metrics: d.metrics}.Mount(mux)
	mux.Handle("GET /metrics", d.serveMetrics())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		respond.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", d.ready)
	top := http.NewServeMux()
	top.Handle("/v1/", d.Broker.Handler()) // the broker authenticates in its own pipeline
	// The web UI authenticates with its own sessions (a token exchanged at sign-in).
	top.Handle(web.Prefix, web.New(web.Config{Platform: d.Platform, Audit: d.Audit, Issuer: d.Issuer, Broker: d.Broker,
		Logger: d.log, Now: d.cfg.Now}))
	top.Handle("GET /{$}", http.RedirectHandler(web.Prefix, http.StatusFound))
	top.Handle("/", d.authenticate(mux))
	d.top, d.mux = top, mux
	return top
}

// ready answers 200 only when the database answers.
func (d *Daemon) ready(w http.ResponseWriter, r *http.Request) {
	if err := d.db.Ping(r.Context()); err != nil {
		respond.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
		return
	}
	respond.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// authenticate puts the caller named by the request's token into its
// context. A request without a token goes on anonymous (public endpoints);
// one with a bad token is refused here.
func (d *Daemon) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := token.FromHeader(r.Header.Get("X-Vault-Token"), r.Header.Get("Authorization"))
		if tok.Empty() {
			next.ServeHTTP(w, r)
			return
		}
		remote, _ := netip.ParseAddrPort(r.RemoteAddr)
		caller, err := d.Broker.Caller(r.Context(), tok, remote.Addr().Unmap())
		if err != nil {
			respond.Error(w, r, d.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(access.WithCaller(r.Context(), caller)))
	})
}
