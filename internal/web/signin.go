package web

import (
	"net/http"
	"strings"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/secret"
)

type signInData struct {
	Next  string
	Error string
}

func (u *UI) signInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	u.pages.render(w, http.StatusOK, "signin", &view{Title: "Sign in", Data: signInData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// signIn exchanges an API token for a session. The token is checked as
// the API checks a bearer token; a bad one is refused with the same words
// whatever is wrong with it.
func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		u.fail(w, r, nil, fail.Deniedf("this request did not come from runcred's own pages"))
		return
	}
	next := safeNext(r.PostFormValue("next"))
	tok := secret.FromString(strings.TrimSpace(r.PostFormValue("token")))
	if tok.Empty() {
		u.pages.render(w, http.StatusUnprocessableEntity, "signin", &view{Title: "Sign in", Data: signInData{Next: next, Error: "token: enter an API token"}})
		return
	}
	if _, err := u.caller(r, tok); err != nil {
		u.pages.render(w, http.StatusUnauthorized, "signin", &view{Title: "Sign in", Data: signInData{Next: next, Error: "token: not a valid API token (it may have expired or been revoked)"}})
		return
	}
	id, _ := u.sessions.create(tok)
	http.SetCookie(w, u.cookie(r, id, 0))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session at once, on the server.
func (u *UI) signOut(w http.ResponseWriter, r *http.Request, v *view) error {
	u.sessions.end(v.id)
	http.SetCookie(w, u.cookie(r, "", -1))
	http.Redirect(w, r, Prefix+"sign-in", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in redirect inside the UI.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}
