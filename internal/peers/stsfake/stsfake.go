// Package stsfake is an in-test AWS Security Token Service that speaks the
// real wire protocol: form-encoded Query requests (Action=AssumeRole&
// Version=2011-06-15&…) signed with SigV4, answered with STS's XML
// documents and error documents. It verifies each signature in full against
// the one configured key pair, applies the limits AWS applies to names and
// durations, and records every authenticated call so tests can assert on
// what a client sent (the session policy, the tags, the external ID).
//
// It is imported only by _test.go files. It fakes what STS does with a
// request, not what AWS does with the credentials it issues: they are random
// strings that no other service knows. The one call it serves to them is
// STS's own GetCallerIdentity, with which clients check that credentials
// work (terraform-provider-vault's vault_aws_access_credentials does).
package stsfake

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Defaults for Options.
const (
	DefaultAccessKey = "AKIARUNCREDTESTKEY01"
	DefaultAccount   = "123456789012"
	// DefaultRoleMaxSession is an IAM role's default MaxSessionDuration.
	DefaultRoleMaxSession = time.Hour
)

// maxBody bounds a request body; STS's own limit is far below a megabyte.
const maxBody = 1 << 20

// Options configures a Server. The zero value is usable.
type Options struct {
	// AccessKey and SecretKey are the only credentials the server accepts.
	// Empty: DefaultAccessKey and a random secret (Server.SecretKey).
	AccessKey string
	SecretKey string
	// Account owns the roles and appears in the ARNs issued.
	Account string
	// Roles are the role ARNs the caller may assume; nil: any role ARN.
	Roles []string
	// ExternalIDs maps a role ARN to the external ID its trust policy
	// requires; AssumeRole without it is AccessDenied, as at AWS.
	ExternalIDs map[string]string
	// RoleMaxSession is every role's MaxSessionDuration.
	RoleMaxSession time.Duration
	// Now is the server's clock, for expirations and signature freshness.
	Now func() time.Time
}

// Call is one authenticated request as the server decoded it.
type Call struct {
	Action          string
	AccessKey       string // the signer
	Region          string // from the signature's credential scope
	RoleArn         string
	RoleSessionName string
	DurationSeconds int // 0: not sent
	Policy          string
	PolicyArns      []string
	ExternalID      string
	Tags            []Tag
	Name            string
	SerialNumber    string
	TokenCode       string
	// Form is every parameter as received.
	Form url.Values
}

// Tag is a session tag, in the order sent.
type Tag struct{ Key, Value string }

// TagMap returns the tags as a map.
func (c Call) TagMap() map[string]string {
	m := map[string]string{}
	for _, t := range c.Tags {
		m[t.Key] = t.Value
	}
	return m
}

// Error is an STS error answer.
type Error struct {
	Status  int    // HTTP status
	Type    string // "Sender" or "Receiver"
	Code    string // "AccessDenied", "ValidationError", ...
	Message string
}

// Server is a running fake STS.
type Server struct {
	URL       string
	AccessKey string
	SecretKey string
	Account   string

	opts Options
	mu   sync.Mutex
	// calls are the authenticated requests in arrival order.
	calls []Call
	// issued maps an issued access key ID to the call that issued it.
	issued map[string]Call
	// sessions maps an issued access key ID to what GetCallerIdentity
	// checks and answers for it.
	sessions map[string]session
	// failure, when set, answers every authenticated call.
	failure *Error
}

// Start runs a fake STS on 127.0.0.1 until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.AccessKey == "" {
		opts.AccessKey = DefaultAccessKey
	}
	if opts.SecretKey == "" {
		opts.SecretKey = rand.Text()
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.RoleMaxSession == 0 {
		opts.RoleMaxSession = DefaultRoleMaxSession
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		AccessKey: opts.AccessKey,
		SecretKey: opts.SecretKey,
		Account:   opts.Account,
		opts:      opts,
		issued:    map[string]Call{},
		sessions:  map[string]session{},
	}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Calls returns the authenticated calls so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Last returns the latest authenticated call; ok is false if there is none.
func (s *Server) Last() (c Call, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return Call{}, false
	}
	return s.calls[len(s.calls)-1], true
}

// Issued returns the call that issued the credentials with this access key.
func (s *Server) Issued(accessKeyID string) (Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.issued[accessKeyID]
	return c, ok
}

// FailWith makes every authenticated call answer e (after being recorded)
// until FailWith(nil).
func (s *Server) FailWith(e *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = e
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	if r.Method != http.MethodPost {
		writeError(w, requestID, &Error{Status: http.StatusMethodNotAllowed, Type: "Sender", Code: "InvalidAction",
			Message: "Only POST requests are supported by this fake."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeError(w, requestID, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "InvalidRequest",
			Message: "The request body could not be read."})
		return
	}
	if token := r.Header.Get("X-Amz-Security-Token"); token != "" {
		s.serveSession(w, r, body, token, requestID)
		return
	}
	scope, e := verify(r, body, s.opts.AccessKey, s.opts.SecretKey, s.opts.Now())
	if e != nil {
		writeError(w, requestID, e)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, requestID, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "MalformedQueryString",
			Message: "The request body is not a valid form."})
		return
	}
	c := decodeCall(form)
	c.AccessKey, c.Region = scope.accessKey, scope.region

	s.mu.Lock()
	s.calls = append(s.calls, c)
	failure := s.failure
	s.mu.Unlock()
	if failure != nil {
		writeError(w, requestID, failure)
		return
	}
	if v := form.Get("Version"); v != apiVersion {
		writeError(w, requestID, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "InvalidAction",
			Message: "Could not find operation " + c.Action + " for version " + v})
		return
	}
	doc, creds, e := s.act(c, requestID)
	if e != nil {
		writeError(w, requestID, e)
		return
	}
	s.mu.Lock()
	if creds.AccessKeyID != "" {
		s.issued[creds.AccessKeyID] = c
		exp, _ := time.Parse(time.RFC3339, creds.Expiration)
		s.sessions[creds.AccessKeyID] = session{secret: creds.SecretAccessKey, token: creds.SessionToken,
			expires: exp, arn: s.callerARN(c)}
	}
	s.mu.Unlock()
	w.Header().Set("X-Amzn-Requestid", requestID)
	writeXML(w, http.StatusOK, doc)
}
