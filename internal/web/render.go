package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/respond"
)

// pages are the parsed templates: each page is layout.html plus its own file.
type pages struct {
	byName map[string]*template.Template
}

func mustPages(now func() time.Time) *pages {
	funcs := template.FuncMap{
		"ago":   func(t time.Time) template.HTML { return ago(now(), t) },
		"short": shortID,
		"join":  strings.Join,
	}
	// Files named part-*.html are partials every page may use.
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/part-*.html"))
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" || strings.HasPrefix(base, "part-") {
			continue
		}
		p.byName[base] = template.Must(template.Must(layout.Clone()).ParseFS(files, n))
	}
	return p
}

// render writes page name in the layout. It renders into a buffer first,
// so that a template error becomes an error page, not half a page.
func (p *pages) render(w http.ResponseWriter, code int, name string, v *view) {
	var b bytes.Buffer
	t, ok := p.byName[name]
	if !ok {
		panic("web: no page " + name)
	}
	root := "layout.html"
	if v.noLayout {
		root = "content"
	}
	if err := t.ExecuteTemplate(&b, root, v); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "The page could not be rendered.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

type errorData struct {
	Code    int
	Heading string
	Message string
}

// fail renders err as an error page: the status the API would answer and
// words for people, never a stack or an internal cause. A denial reads as
// a denial here (unlike the API's 404) because the UI shows only links the
// caller may follow; a forged request learns nothing it did not know.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	code := respond.Status(fail.KindOf(err))
	d := errorData{Code: code, Message: fail.Message(err)}
	switch fail.KindOf(err) {
	case fail.NotFound:
		d.Heading = "Not found"
	case fail.Denied:
		d.Heading, code, d.Code = "Not allowed", http.StatusForbidden, http.StatusForbidden
		if d.Message == "" {
			d.Message = "Your token does not allow this."
		}
	case fail.Unauthenticated:
		d.Heading = "Signed out"
		d.Message = "Your session has ended. Sign in again."
	case fail.Invalid:
		d.Heading = "Not accepted"
	case fail.Conflict:
		d.Heading = "Not possible now"
	default:
		d.Heading = "Something went wrong"
		d.Message = "The server could not answer this request. Try again; if it persists, the server's log says why."
	}
	if code >= 500 || fail.KindOf(err) == fail.Denied {
		u.cfg.Logger.Warn("web request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	if v == nil {
		v = &view{}
	}
	v.Title, v.Data = d.Heading, d
	u.pages.render(w, code, "error", v)
}

// ago is a relative time with the exact time on hover.
func ago(now, t time.Time) template.HTML {
	if t.IsZero() {
		return template.HTML(`<span class="muted">—</span>`)
	}
	d, format := now.Sub(t), "%d %s ago"
	if d < 0 {
		d, format = -d, "in %d %s" // a time to come: when a key leaves the JWKS
	}
	var rel string
	switch {
	case d < time.Second:
		rel = "just now"
	case d < time.Minute:
		rel = fmt.Sprintf(format, int(d.Seconds()), "s")
	case d < time.Hour:
		rel = fmt.Sprintf(format, int(d.Minutes()), "min")
	case d < 48*time.Hour:
		rel = fmt.Sprintf(format, int(d.Hours()), "h")
	default:
		rel = fmt.Sprintf(format, int(d.Hours()/24), "days")
	}
	exact := t.UTC().Format(time.RFC3339)
	return template.HTML(`<time datetime="` + exact + `" title="` + exact + `">` + rel + `</time>`)
}

func shortID(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
