package resource

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// Signed URLs. go-tfe uploads configuration, reads logs and (like
// Terraform) downloads state from URLs the API hands out, and sends no API
// token with the first two: like HCP Terraform's archivist URLs, the URL is
// the credential. A token is the seal's encryption of purpose, object id and
// expiry, so it cannot be forged or altered, needs no table, and survives
// data-key rotation. It is handed only to callers authorized to read (or,
// for uploads, create) the object.

// Purposes of signed tokens: one per kind of object handed out.
const (
	SignUpload = "cv-upload"
	SignLog    = "log"
	SignState  = "state"
)

// SignedURLLifetime is how long a signed URL works.
const SignedURLLifetime = time.Hour

const signedAAD = "platform/signed-url"

// Sign returns a token granting purpose on object id until
// SignedURLLifetime has passed.
func (d Deps) Sign(purpose, id string) (string, error) {
	exp := d.Now().Add(SignedURLLifetime).Unix()
	ct, err := d.Seal.Encrypt([]byte(purpose+"\n"+id+"\n"+strconv.FormatInt(exp, 10)), signedAAD)
	if err != nil {
		return "", fail.Wrap(fail.Internal, err, "could not sign a URL")
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// Signed is what a signed token grants: one purpose on one object.
type Signed struct {
	Purpose string
	ID      string
}

// OpenSigned checks token and returns what it grants. Every failure looks
// the same (not found), so a probe learns nothing.
func (d Deps) OpenSigned(token string) (Signed, error) {
	gone := fail.NotFoundf("the URL is invalid or has expired")
	if len(token) > 512 {
		return Signed{}, gone
	}
	ct, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Signed{}, gone
	}
	pt, err := d.Seal.Decrypt(ct, signedAAD)
	if err != nil {
		return Signed{}, gone
	}
	parts := strings.Split(string(pt), "\n")
	if len(parts) != 3 {
		return Signed{}, gone
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || d.Now().Unix() > exp {
		return Signed{}, gone
	}
	return Signed{Purpose: parts[0], ID: parts[1]}, nil
}
