package stsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Signature Version 4, verified the way AWS documents it: rebuild the
// canonical request from what arrived, derive the signing key from the
// secret and the credential scope, and compare signatures in constant time.

const (
	algorithm  = "AWS4-HMAC-SHA256"
	amzDate    = "20060102T150405Z"
	maxSkew    = 15 * time.Minute
	stsService = "sts"
)

// scope is the verified credential scope of a request.
type scope struct {
	accessKey, date, region, service string
}

func denied(code, msg string) *Error {
	return &Error{Status: http.StatusForbidden, Type: "Sender", Code: code, Message: msg}
}

// verify checks r's SigV4 Authorization header against the one key pair.
func verify(r *http.Request, body []byte, accessKey, secretKey string, now time.Time) (scope, *Error) {
	if r.Header.Get("X-Amz-Security-Token") != "" {
		// Temporary credentials go through verifySigned with their session.
		return scope{}, denied("InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	return verifySigned(r, body, func(k string) (string, bool) {
		return secretKey, hmac.Equal([]byte(k), []byte(accessKey))
	}, now)
}

// verifySigned checks r's SigV4 Authorization header with the secret that
// secretFor gives for the access key it names.
func verifySigned(r *http.Request, body []byte, secretFor func(accessKey string) (string, bool), now time.Time) (scope, *Error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return scope{}, denied("MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	credential, signedHeaders, signature, ok := parseAuthorization(auth)
	if !ok {
		return scope{}, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "IncompleteSignature",
			Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return scope{}, denied("SignatureDoesNotMatch", "Credential should be scoped to a valid region.")
	}
	sc := scope{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	secretKey, known := secretFor(sc.accessKey)
	if !known {
		return scope{}, denied("InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if sc.service != stsService {
		return scope{}, denied("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sts'.")
	}
	stamp := r.Header.Get("X-Amz-Date")
	at, err := time.Parse(amzDate, stamp)
	if err != nil || !strings.HasPrefix(stamp, sc.date) {
		return scope{}, denied("SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
	}
	if d := now.Sub(at); d > maxSkew || d < -maxSkew {
		return scope{}, denied("SignatureDoesNotMatch", "Signature expired: "+stamp+" is now earlier or later than the allowed skew.")
	}
	names := strings.Split(signedHeaders, ";")
	if !contains(names, "host") || !contains(names, "x-amz-date") {
		return scope{}, denied("SignatureDoesNotMatch", "Host and X-Amz-Date must be signed.")
	}
	payload := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(payload[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return scope{}, denied("SignatureDoesNotMatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalPath(r.URL),
		canonicalQuery(r.URL.Query()),
		canonicalHeaders(r, names),
		signedHeaders,
		payloadHash,
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{algorithm, stamp,
		strings.Join(parts[1:], "/"), hex.EncodeToString(sum[:])}, "\n")
	key := signingKey(secretKey, sc)
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return scope{}, denied("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return sc, nil
}

// parseAuthorization splits "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…".
func parseAuthorization(h string) (credential, signedHeaders, signature string, ok bool) {
	rest, found := strings.CutPrefix(h, algorithm+" ")
	if !found {
		return "", "", "", false
	}
	for _, field := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		}
	}
	return credential, signedHeaders, signature, credential != "" && signedHeaders != "" && signature != ""
}

func signingKey(secret string, sc scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), sc.date)
	k = hmacSHA256(k, sc.region)
	k = hmacSHA256(k, sc.service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalPath URI-encodes the already escaped path once more, as SigV4
// does for every service but S3.
func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, n := range names {
		var v string
		if n == "host" {
			v = r.Host
		} else {
			v = strings.Join(r.Header.Values(n), ",")
		}
		b.WriteString(n + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	return b.String()
}

// uriEncode percent-encodes everything but the unreserved characters (and
// '/' unless encodeSlash), in upper-case hex, as SigV4 specifies.
func uriEncode(s string, encodeSlash bool) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		unreserved := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~'
		if unreserved || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
