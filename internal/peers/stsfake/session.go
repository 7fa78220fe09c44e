package stsfake

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"time"
)

// session is a set of temporary credentials the server issued.
type session struct {
	secret, token string
	expires       time.Time
	arn           string // the identity GetCallerIdentity answers
}

// callerARN is the identity of credentials issued by c, as AWS names it.
func (s *Server) callerARN(c Call) string {
	switch c.Action {
	case "AssumeRole":
		if m := roleARN.FindStringSubmatch(c.RoleArn); m != nil {
			return "arn:aws:sts::" + m[1] + ":assumed-role/" + m[2] + "/" + c.RoleSessionName
		}
	case "GetFederationToken":
		return "arn:aws:sts::" + s.Account + ":federated-user/" + c.Name
	}
	return "arn:aws:iam::" + s.Account + ":user/runcred"
}

// serveSession answers a call signed with temporary credentials the server
// issued: the signature is verified in full with their secret, the session
// token must be theirs and they must not have expired. The only action
// such a caller has here is GetCallerIdentity, which is how a client (the
// Vault provider's AWS data source) checks that the credentials work.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, body []byte, token, requestID string) {
	now := s.opts.Now()
	var found session
	sc, e := verifySigned(r, body, func(accessKey string) (string, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ses, ok := s.sessions[accessKey]
		if !ok || !hmac.Equal([]byte(ses.token), []byte(token)) {
			return "", false
		}
		found = ses
		return ses.secret, true
	}, now)
	switch {
	case e != nil:
		writeError(w, requestID, e)
		return
	case !now.Before(found.expires):
		writeError(w, requestID, denied("ExpiredToken", "The security token included in the request is expired"))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeError(w, requestID, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "MalformedQueryString",
			Message: "The request body is not a valid form."})
		return
	}
	c := decodeCall(form)
	c.AccessKey, c.Region = sc.accessKey, sc.region
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if c.Action != "GetCallerIdentity" || form.Get("Version") != apiVersion {
		writeError(w, requestID, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "InvalidAction",
			Message: "This fake serves only GetCallerIdentity to temporary credentials, not " + c.Action})
		return
	}
	doc := callerIdentityResponse{Xmlns: xmlns, Metadata: metadata{requestID}}
	doc.Result.Arn, doc.Result.UserID, doc.Result.Account = found.arn, sc.accessKey, s.Account
	w.Header().Set("X-Amzn-Requestid", requestID)
	writeXML(w, http.StatusOK, doc)
}
