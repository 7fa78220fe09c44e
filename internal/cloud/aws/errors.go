package aws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/runcred/runcred/internal/fail"
)

// maxMessage bounds how much of an STS error message reaches a client: the
// endpoint is configurable, and a misbehaving one should not be able to
// fill responses and logs.
const maxMessage = 512

// classify turns an SDK error into a fail kind, following Vault: an STS
// that refuses the request (4xx: access denied, bad duration, malformed
// policy) is the caller's or the operator's problem and a 400 with AWS's code
// and message; throttling, 5xx and transport failures are the upstream's
// and a 502. The SDK error stays as the hidden cause, for the log.
func classify(err error) error {
	var params smithy.InvalidParamsError
	if errors.As(err, &params) {
		// The SDK refused to send it. This SDK version checks only that
		// required fields are set, which the methods always do; the branch
		// keeps a stricter SDK's refusals a 400 rather than a 502.
		return fail.Wrap(fail.Invalid, err, "sts: invalid request: "+clean(params.Error()))
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		msg := "sts: " + clean(code)
		if m := clean(api.ErrorMessage()); m != "" {
			msg += ": " + m
		}
		if isUpstreamFault(err, code) {
			return fail.Wrap(fail.Upstream, err, msg)
		}
		return fail.Wrap(fail.Invalid, err, msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fail.Wrap(fail.Upstream, err, "sts: request cancelled or timed out")
	}
	return fail.Wrap(fail.Upstream, err, "sts: request failed")
}

// isUpstreamFault reports whether an STS answer is the STS's own failure:
// throttling (Vault's ErrUpstreamRateLimited) or a server error.
func isUpstreamFault(err error, code string) bool {
	if _, throttled := retry.DefaultThrottleErrorCodes[code]; throttled {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		s := status.HTTPStatusCode()
		return s >= 500 || s == http.StatusTooManyRequests
	}
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorFault() == smithy.FaultServer
}

// clean keeps a message to one bounded line.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
