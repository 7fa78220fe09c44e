package stsfake

import (
	"encoding/xml"
	"net/http"

	"github.com/google/uuid"
)

// xmlns is the namespace of every STS response document.
const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

type credentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type metadata struct {
	RequestID string `xml:"RequestId"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials      credentials `xml:"Credentials"`
		PackedPolicySize int         `xml:"PackedPolicySize,omitempty"`
	} `xml:"AssumeRoleResult"`
	Metadata metadata `xml:"ResponseMetadata"`
}

type federationTokenResponse struct {
	XMLName xml.Name `xml:"GetFederationTokenResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Credentials   credentials `xml:"Credentials"`
		FederatedUser struct {
			Arn             string `xml:"Arn"`
			FederatedUserID string `xml:"FederatedUserId"`
		} `xml:"FederatedUser"`
		PackedPolicySize int `xml:"PackedPolicySize,omitempty"`
	} `xml:"GetFederationTokenResult"`
	Metadata metadata `xml:"ResponseMetadata"`
}

type sessionTokenResponse struct {
	XMLName xml.Name `xml:"GetSessionTokenResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Credentials credentials `xml:"Credentials"`
	} `xml:"GetSessionTokenResult"`
	Metadata metadata `xml:"ResponseMetadata"`
}

// errorResponse is STS's error document; unlike the others it carries
// RequestId directly.
type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func newRequestID() string { return uuid.NewString() }

func writeError(w http.ResponseWriter, requestID string, e *Error) {
	doc := errorResponse{Xmlns: xmlns, RequestID: requestID}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = e.Type, e.Code, e.Message
	if doc.Error.Type == "" {
		doc.Error.Type = "Sender"
		if e.Status >= 500 {
			doc.Error.Type = "Receiver"
		}
	}
	w.Header().Set("X-Amzn-Requestid", requestID)
	writeXML(w, e.Status, doc)
}

func writeXML(w http.ResponseWriter, status int, doc any) {
	b, err := xml.Marshal(doc)
	if err != nil {
		// Only the fake's own types reach here; a failure is a bug in it.
		panic("stsfake: " + err.Error())
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

type callerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata metadata `xml:"ResponseMetadata"`
}
