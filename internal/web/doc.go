// Package web is runcred's browser UI, served under /app/ by the daemon on
// its one listener: server-rendered html/template pages, htmx (vendored,
// embedded, version in the file name) for partial updates and
// Server-Sent Events for live logs and statuses. No script is inline and no
// asset comes from elsewhere, so the Content-Security-Policy is strict and
// the UI works air-gapped.
//
// Sign-in exchanges an API token for a server-side session. Every page
// resolves the session's token to its caller exactly as the API's
// middleware does (Broker.Caller) and calls the same domain services the
// API calls, so a page shows, and a button does, only what the API would
// allow that token. State-changing requests carry the session's CSRF token
// and must come from the UI's own origin.
package web
