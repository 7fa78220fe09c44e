// Package fail defines the few kinds of error runcred reports to clients and a
// safe message for each. Internal causes stay wrapped inside and are logged by
// the transport, never echoed to a client.
package fail

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Kind classifies an error for the transports that render it.
type Kind int

const (
	Internal        Kind = iota // anything unexpected; rendered as 500 with a generic message
	NotFound                    // the thing does not exist (or the caller may not know it does)
	Conflict                    // the thing changed or already exists
	Invalid                     // the request is malformed
	Denied                      // authenticated but not allowed
	Unauthenticated             // no or bad credentials
	Unavailable                 // a dependency is down; retry later
	Unsupported                 // the operation is not supported on this path
	Upstream                    // a system runcred called (an STS, an IdP) refused or failed
)

func (k Kind) String() string {
	switch k {
	case NotFound:
		return "not found"
	case Conflict:
		return "conflict"
	case Invalid:
		return "invalid"
	case Denied:
		return "permission denied"
	case Unauthenticated:
		return "unauthenticated"
	case Unavailable:
		return "unavailable"
	case Unsupported:
		return "unsupported operation"
	case Upstream:
		return "upstream error"
	default:
		return "internal error"
	}
}

// Error is an error with a kind and a message that is safe to show a client.
type Error struct {
	Kind  Kind
	Msg   string // safe for clients
	Cause error  // internal detail; logged, never shown
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Msg + ": " + e.Cause.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Cause }

func newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

func NotFoundf(format string, args ...any) error    { return newf(NotFound, format, args...) }
func Conflictf(format string, args ...any) error    { return newf(Conflict, format, args...) }
func Invalidf(format string, args ...any) error     { return newf(Invalid, format, args...) }
func Deniedf(format string, args ...any) error      { return newf(Denied, format, args...) }
func Unavailablef(format string, args ...any) error { return newf(Unavailable, format, args...) }
func Unsupportedf(format string, args ...any) error { return newf(Unsupported, format, args...) }
func Upstreamf(format string, args ...any) error    { return newf(Upstream, format, args...) }
func Unauthenticatedf(format string, args ...any) error {
	return newf(Unauthenticated, format, args...)
}

// Wrap gives cause a kind and a safe message.
func Wrap(k Kind, cause error, msg string) error { return &Error{Kind: k, Msg: msg, Cause: cause} }

// KindOf reports the kind of err; errors that carry none are Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// Message is what a client may be shown for err.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Msg
	}
	return "internal error"
}

// Clip keeps a message short and printable when it echoes bad input: at
// most 64 bytes and an ellipsis, invalid UTF-8 replaced.
func Clip(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "?")
	}
	return s
}
