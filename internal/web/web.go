package web

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
	"github.com/runcred/runcred/internal/platform"
	"github.com/runcred/runcred/internal/secret"
)

//go:embed static templates
var files embed.FS

// Prefix is where the UI is mounted.
const Prefix = "/app/"

// CSP is the Content-Security-Policy of every response: scripts, styles and
// connections from the UI's own origin only, no inline script or style, no
// framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config is what a UI needs; the daemon wires it.
type Config struct {
	Platform *platform.Service
	Audit    *audit.Log
	Issuer   *identity.Issuer
	Broker   *broker.Broker
	Logger   *slog.Logger
	Now      func() time.Time // the sessions' clock; defaults to time.Now
	// IdleTimeout and MaxAge bound a session; zero takes the defaults.
	IdleTimeout, MaxAge time.Duration
	// PollInterval is how often a live stream looks for new log lines and
	// statuses; zero takes 300 ms.
	PollInterval time.Duration
}

// UI serves /app/.
type UI struct {
	cfg      Config
	sessions *sessions
	pages    *pages
	mux      *http.ServeMux
}

// New returns the UI; it panics on missing wiring, a bug found at start-up.
func New(c Config) *UI {
	if c.Platform == nil || c.Audit == nil || c.Issuer == nil || c.Broker == nil || c.Logger == nil {
		panic("web: New needs Platform, Audit, Issuer, Broker and Logger")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.PollInterval == 0 {
		c.PollInterval = 300 * time.Millisecond
	}
	u := &UI{cfg: c, sessions: newSessions(c.Now, c.IdleTimeout, c.MaxAge), pages: mustPages(c.Now), mux: http.NewServeMux()}
	u.routes()
	return u
}

// ServeHTTP sets the security headers every response carries, then routes.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	u.mux.ServeHTTP(w, r)
}

func (u *UI) routes() {
	static, _ := fs.Sub(files, "static")
	staticFiles := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	u.mux.Handle("GET "+Prefix+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// File names carry their version, so they may be cached for good.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		staticFiles.ServeHTTP(w, r)
	}))
	u.mux.HandleFunc("GET "+Prefix+"sign-in", u.signInPage)
	u.mux.HandleFunc("POST "+Prefix+"sign-in", u.signIn)
	u.mux.HandleFunc("POST "+Prefix+"sign-out", u.signed(u.signOut))

	page := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, v *view) error) {
		u.mux.HandleFunc(pattern, u.signed(fn))
	}
	page("GET "+Prefix+"{$}", u.organizations)
	page("GET "+Prefix+"orgs/{org}", u.workspaces)
	page("GET "+Prefix+"orgs/{org}/workspaces/{ws}", u.workspace)
	page("POST "+Prefix+"orgs/{org}/workspaces/{ws}/settings", u.workspaceSettings)
	page("GET "+Prefix+"runs/{run}", u.run)
	page("GET "+Prefix+"runs/{run}/events", u.runEvents)
	page("GET "+Prefix+"runs/{run}/resources", u.resources)
	page("POST "+Prefix+"runs/{run}/override", u.override)
	page("POST "+Prefix+"runs/{run}/{action}", u.runAction)
	page("GET "+Prefix+"audit", u.audit)
	page("GET "+Prefix+"identity", u.identity)
	page("GET "+Prefix+"broker", u.broker)
	page("POST "+Prefix+"broker/leases/revoke", u.revokeLease)
	u.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, nil, fail.NotFoundf("there is no page here"))
	})
}

// view is what every page template gets.
type view struct {
	Title    string
	Caller   access.Caller
	CSRF     string
	Nav      string // the highlighted menu entry
	Data     any
	id       string // the session id (sign-out)
	session  *session
	ctx      context.Context
	noLayout bool
}

const cookieName = "runcred_session"

// signed runs fn for a signed-in browser: the session's token is resolved
// to its caller as the API's middleware resolves a bearer token (so a
// revoked or expired token ends the session), and a state-changing request
// must come from this origin and carry the session's CSRF token.
func (u *UI) signed(fn func(w http.ResponseWriter, r *http.Request, v *view) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		c, _ := r.Cookie(cookieName)
		var ss *session
		var id string
		if c != nil {
			id = c.Value
			ss, _ = u.sessions.get(id)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				u.fail(w, r, nil, fail.Deniedf("this request did not come from runcred's own pages"))
				return
			}
			if ss == nil || !ss.checkCSRF(r.PostFormValue("csrf")) {
				u.fail(w, r, nil, fail.Deniedf("the form is stale or was not sent by runcred's pages; reload the page and try again"))
				return
			}
		}
		if ss == nil {
			if r.Header.Get("HX-Request") != "" || strings.HasSuffix(r.URL.Path, "/events") {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, Prefix+"sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		caller, err := u.caller(r, ss.token)
		if err != nil {
			u.sessions.end(id)
			http.SetCookie(w, u.cookie(r, "", -1))
			u.fail(w, r, nil, err)
			return
		}
		ctx := access.WithCaller(r.Context(), caller)
		v := &view{Caller: caller, CSRF: ss.csrf, id: id, session: ss, ctx: ctx}
		if err := fn(w, r.WithContext(ctx), v); err != nil {
			u.fail(w, r, v, err)
		}
	}
}

func (u *UI) caller(r *http.Request, tok secret.Value) (access.Caller, error) {
	return u.cfg.Broker.Caller(r.Context(), tok, remoteAddr(r))
}

// sameOrigin reports whether a state-changing request comes from the UI's
// own origin: its Origin header (every browser sends one on a POST), or
// else its Referer, names the host the request was sent to. A request with
// neither is refused.
func sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	o, err := url.Parse(src)
	if err != nil || o.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o.Scheme == scheme && strings.EqualFold(o.Host, r.Host)
}

// cookie is the session cookie: HttpOnly, SameSite=Strict, Secure when
// served over HTTPS, limited to the UI's path.
func (u *UI) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

func remoteAddr(r *http.Request) netip.Addr {
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	return remote.Addr().Unmap()
}
