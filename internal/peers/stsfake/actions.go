package stsfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const apiVersion = "2011-06-15"

// Limits STS documents for its parameters.
const (
	minDuration        = 900
	maxTokenDuration   = 129600 // GetFederationToken, GetSessionToken
	defaultRoleSession = 3600
	defaultTokenTTL    = 43200
	maxPackedPolicy    = 2048
)

var (
	// sessionName is RoleSessionName's and Name's pattern, [\w+=,.@-]*.
	sessionName = regexp.MustCompile(`^[\w+=,.@-]*$`)
	roleARN     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$`)
)

func decodeCall(form url.Values) Call {
	c := Call{
		Action:          form.Get("Action"),
		RoleArn:         form.Get("RoleArn"),
		RoleSessionName: form.Get("RoleSessionName"),
		Policy:          form.Get("Policy"),
		ExternalID:      form.Get("ExternalId"),
		Name:            form.Get("Name"),
		SerialNumber:    form.Get("SerialNumber"),
		TokenCode:       form.Get("TokenCode"),
		Form:            form,
	}
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1 // refused by the range check
		}
		c.DurationSeconds = n
	}
	for i := 1; form.Has(fmt.Sprintf("PolicyArns.member.%d.arn", i)); i++ {
		c.PolicyArns = append(c.PolicyArns, form.Get(fmt.Sprintf("PolicyArns.member.%d.arn", i)))
	}
	for i := 1; form.Has(fmt.Sprintf("Tags.member.%d.Key", i)); i++ {
		c.Tags = append(c.Tags, Tag{
			Key:   form.Get(fmt.Sprintf("Tags.member.%d.Key", i)),
			Value: form.Get(fmt.Sprintf("Tags.member.%d.Value", i)),
		})
	}
	return c
}

// act answers a decoded call with a response document and the credentials
// in it, or with an error.
func (s *Server) act(c Call, requestID string) (any, credentials, *Error) {
	switch c.Action {
	case "AssumeRole":
		return s.assumeRole(c, requestID)
	case "GetFederationToken":
		if e := firstOf(checkRequired("name", c.Name), checkName("name", c.Name, 32), checkPolicy(c.Policy),
			checkDuration(c.DurationSeconds, maxTokenDuration)); e != nil {
			return nil, credentials{}, e
		}
		creds := s.newCredentials(c.DurationSeconds, defaultTokenTTL)
		doc := federationTokenResponse{Xmlns: xmlns, Metadata: metadata{requestID}}
		doc.Result.Credentials = creds
		doc.Result.FederatedUser.Arn = "arn:aws:sts::" + s.Account + ":federated-user/" + c.Name
		doc.Result.FederatedUser.FederatedUserID = s.Account + ":" + c.Name
		doc.Result.PackedPolicySize = packedSize(c.Policy)
		return doc, creds, nil
	case "GetCallerIdentity":
		doc := callerIdentityResponse{Xmlns: xmlns, Metadata: metadata{requestID}}
		doc.Result.Arn, doc.Result.UserID, doc.Result.Account = s.callerARN(c), c.AccessKey, s.Account
		return doc, credentials{}, nil
	case "GetSessionToken":
		if e := checkDuration(c.DurationSeconds, maxTokenDuration); e != nil {
			return nil, credentials{}, e
		}
		creds := s.newCredentials(c.DurationSeconds, defaultTokenTTL)
		doc := sessionTokenResponse{Xmlns: xmlns, Metadata: metadata{requestID}}
		doc.Result.Credentials = creds
		return doc, creds, nil
	}
	return nil, credentials{}, &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "InvalidAction",
		Message: "Could not find operation " + c.Action + " for version " + apiVersion}
}

func (s *Server) assumeRole(c Call, requestID string) (any, credentials, *Error) {
	if e := firstOf(checkRequired("roleArn", c.RoleArn), checkRequired("roleSessionName", c.RoleSessionName),
		checkName("roleSessionName", c.RoleSessionName, 64), checkPolicy(c.Policy)); e != nil {
		return nil, credentials{}, e
	}
	m := roleARN.FindStringSubmatch(c.RoleArn)
	if m == nil {
		return nil, credentials{}, validation(fmt.Sprintf("%s is invalid", c.RoleArn))
	}
	denied := &Error{Status: http.StatusForbidden, Type: "Sender", Code: "AccessDenied",
		Message: "User: arn:aws:iam::" + s.Account + ":user/runcred is not authorized to perform: sts:AssumeRole on resource: " + c.RoleArn}
	if s.opts.Roles != nil && !slices.Contains(s.opts.Roles, c.RoleArn) {
		return nil, credentials{}, denied
	}
	if want, ok := s.opts.ExternalIDs[c.RoleArn]; ok && want != c.ExternalID {
		return nil, credentials{}, denied
	}
	if e := checkDuration(c.DurationSeconds, 43200); e != nil {
		return nil, credentials{}, e
	}
	if time.Duration(c.DurationSeconds)*time.Second > s.opts.RoleMaxSession {
		return nil, credentials{}, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	creds := s.newCredentials(c.DurationSeconds, defaultRoleSession)
	doc := assumeRoleResponse{Xmlns: xmlns, Metadata: metadata{requestID}}
	doc.Result.Credentials = creds
	doc.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + m[1] + ":assumed-role/" + m[2] + "/" + c.RoleSessionName
	doc.Result.AssumedRoleUser.AssumedRoleID = "AROA" + rand.Text()[:17] + ":" + c.RoleSessionName
	doc.Result.PackedPolicySize = packedSize(c.Policy)
	return doc, creds, nil
}

func (s *Server) newCredentials(durationSeconds, fallback int) credentials {
	if durationSeconds == 0 {
		durationSeconds = fallback
	}
	token := make([]byte, 96)
	_, _ = rand.Read(token)
	return credentials{
		AccessKeyID:     "ASIA" + rand.Text()[:16],
		SecretAccessKey: (rand.Text() + rand.Text())[:40],
		SessionToken:    base64.StdEncoding.EncodeToString(token),
		Expiration: s.opts.Now().UTC().Add(time.Duration(durationSeconds) * time.Second).
			Truncate(time.Second).Format(time.RFC3339),
	}
}

// The checks below return AWS's messages for the same faults.

func firstOf(errs ...*Error) *Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func validation(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "ValidationError", Message: msg}
}

func constraint(field, value, rule string) *Error {
	return validation(fmt.Sprintf("1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s", value, field, rule))
}

func checkRequired(field, v string) *Error {
	if v == "" {
		return constraint(field, "null", "Member must not be null")
	}
	return nil
}

func checkName(field, v string, max int) *Error {
	switch {
	case v == "":
		return nil
	case len(v) < 2:
		return constraint(field, "'"+v+"'", "Member must have length greater than or equal to 2")
	case len(v) > max:
		return constraint(field, "'"+v+"'", fmt.Sprintf("Member must have length less than or equal to %d", max))
	case !sessionName.MatchString(v):
		return constraint(field, "'"+v+"'", `Member must satisfy regular expression pattern: [\w+=,.@-]*`)
	}
	return nil
}

func checkDuration(seconds, max int) *Error {
	switch {
	case seconds == 0:
		return nil
	case seconds < minDuration:
		return constraint("durationSeconds", fmt.Sprintf("'%d'", seconds), "Member must have value greater than or equal to 900")
	case seconds > max:
		return constraint("durationSeconds", fmt.Sprintf("'%d'", seconds), fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
	return nil
}

func checkPolicy(doc string) *Error {
	if doc == "" {
		return nil
	}
	if !json.Valid([]byte(doc)) || !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		return &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "MalformedPolicyDocument",
			Message: "The policy is not in the valid JSON format."}
	}
	if len(doc) > maxPackedPolicy {
		return &Error{Status: http.StatusBadRequest, Type: "Sender", Code: "PackedPolicyTooLarge",
			Message: fmt.Sprintf("Packed policy consumes %d%% of allotted space, please use smaller policy.", 100*len(doc)/maxPackedPolicy)}
	}
	return nil
}

// packedSize is a stand-in for AWS's packed policy percentage.
func packedSize(doc string) int { return 100 * len(doc) / maxPackedPolicy }
