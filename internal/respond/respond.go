// Package respond writes JSON responses and errors for runcred's own HTTP API
// (/api/runcred/v1 and /.well-known). Errors are rendered as
// {"errors":["safe message"]} with a status from their fail kind; internal
// causes are logged, never sent.
package respond

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/runcred/runcred/internal/fail"
)

// MaxBody bounds request bodies on this API.
const MaxBody = 1 << 20

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Status maps an error kind to an HTTP status.
func Status(k fail.Kind) int {
	switch k {
	case fail.NotFound:
		return http.StatusNotFound
	case fail.Conflict:
		return http.StatusConflict
	case fail.Invalid:
		return http.StatusBadRequest
	case fail.Denied:
		return http.StatusForbidden
	case fail.Unauthenticated:
		return http.StatusUnauthorized
	case fail.Unavailable:
		return http.StatusServiceUnavailable
	case fail.Unsupported:
		return http.StatusMethodNotAllowed
	case fail.Upstream:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// Error writes err as {"errors":[...]} and logs what the client does not see.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	k := fail.KindOf(err)
	if k == fail.Internal || k == fail.Unavailable || errors.Unwrap(err) != nil {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	JSON(w, Status(k), map[string][]string{"errors": {fail.Message(err)}})
}

// ReadBody reads a request body of at most MaxBody bytes; parsing it is the
// endpoint's job.
func ReadBody(r *http.Request) ([]byte, error) { return ReadBodyUpTo(r, MaxBody) }

// ReadBodyUpTo reads a request body of at most limit bytes, for endpoints
// that take uploads (logs, plans, state).
func ReadBodyUpTo(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fail.Invalidf("request body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, fail.Invalidf("could not read the request body")
	}
	return b, nil
}

// DecodeStrict parses raw, an untrusted JSON body, into v: unknown fields
// and anything after the first value are refused. what names the body in
// the error ("mint request").
func DecodeStrict(raw []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail.Invalidf("%s is not valid JSON: %s", what, err.Error())
	}
	if dec.More() {
		return fail.Invalidf("%s holds more than one JSON value", what)
	}
	return nil
}
