package jwt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/runcred/runcred/internal/fail"
)

// checkHeader applies the JOSE header rules go-jose leaves to the caller,
// before any key is looked at. RFC 7515 §4.1.11: a "crit" that is present
// must be a non-empty list, and a recipient must refuse a token naming an
// extension it does not understand. This method understands none (go-jose
// would accept "b64", RFC 7797, which a JWT may not use), so any "crit" is
// refused; go-jose alone lets "crit": [] and "crit": null through.
// Messages never echo a header value in full: the header is the caller's.
// It returns the header's "alg", for messages.
func checkHeader(token string) (alg string, err error) {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", errors.New("token is not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", errors.New("token header is not base64url")
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", errors.New("token header is not a JSON object")
	}
	_ = json.Unmarshal(h["alg"], &alg) // go-jose judges alg; this is only for the message
	crit, present := h["crit"]
	if !present {
		return alg, nil
	}
	var names []string
	if err := json.Unmarshal(crit, &names); err != nil || names == nil {
		return "", errors.New(`"crit" header must be a list of header names`)
	}
	if len(names) == 0 {
		return "", errors.New(`"crit" header must not be empty (RFC 7515 section 4.1.11)`)
	}
	return "", fmt.Errorf(`"crit" header names %q, an extension this method does not understand`, fail.Clip(names[0]))
}

// parseError is what a caller learns about a token go-jose could not
// parse. go-jose's own messages quote header values (an unexpected "alg"
// verbatim, however long), so only their gist is kept.
func parseError(err error, alg string) error {
	if strings.Contains(err.Error(), "unexpected signature algorithm") {
		return fmt.Errorf("unexpected signature algorithm %q", fail.Clip(alg))
	}
	return errors.New("token is not a well-formed signed JWT")
}
