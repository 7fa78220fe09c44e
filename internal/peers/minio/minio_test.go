package minio_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/runcred/runcred/internal/peers/minio"
)

const (
	clientID = "runcred-test"
	kid      = "k1"
	ws1Sub   = "organization:demo:project:Default Project:workspace:ws1:run_phase:plan"
	// ws1State lets only ws1's runs, in any phase, read and write the state bucket.
	ws1State = `{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Effect": "Allow",
	    "Action": ["s3:GetObject", "s3:PutObject"],
	    "Resource": ["arn:aws:s3:::state/*"],
	    "Condition": {"StringLike": {"jwt:sub": "organization:demo:project:Default Project:workspace:ws1:run_phase:*"}}
	  }]
	}`
)

// issuer is the smallest OpenID provider MinIO accepts: a discovery document
// and a JWKS holding one RS256 key.
type issuer struct {
	url string
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	iss := &issuer{key: rsaKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.url,
			"jwks_uri":                              iss.url + "/.well-known/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &iss.key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"},
		}})
	})
	srv := httptest.NewServer(mux) // on 127.0.0.1
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

func (iss *issuer) configURL() string { return iss.url + "/.well-known/openid-configuration" }

// claims are valid for MinIO unless a test changes them.
func (iss *issuer) claims(sub string) jwt.Claims {
	now := time.Now()
	return jwt.Claims{
		Issuer:   iss.url,
		Subject:  sub,
		Audience: jwt.Audience{clientID},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signRS256(t *testing.T, key *rsa.PrivateKey, c jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgeHS256 signs c with HMAC under an empty key and kid=client id: what
// MinIO accepts when no client secret is configured. Built by hand because
// go-jose rightly refuses short HMAC keys.
func forgeHS256(t *testing.T, c jwt.Claims) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "HS256", "typ": "JWT", "kid": clientID}) + "." + enc(c)
	mac := hmac.New(sha256.New, nil)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func TestSTS(t *testing.T) {
	iss := newIssuer(t)
	srv := minio.Start(t, minio.Options{
		OpenID: []minio.OpenID{
			{Name: "RUNCRED", ConfigURL: iss.configURL(), ClientID: clientID, RolePolicy: "ws1-state"},
		},
		Policies: map[string]string{"ws1-state": ws1State},
		Buckets:  []string{"state", "other"},
	})
	arn := srv.RoleARNs["RUNCRED"]
	if !strings.HasPrefix(arn, "arn:minio:iam:::role/") {
		t.Fatalf("RoleARNs = %v", srv.RoleARNs)
	}
	ctx := context.Background()

	t.Run("valid token", func(t *testing.T) {
		creds, err := srv.AssumeRoleWithWebIdentity(ctx, arn, signRS256(t, iss.key, iss.claims(ws1Sub)), 900)
		if err != nil {
			t.Fatal(err)
		}
		s3c := srv.S3(creds)
		if err := put(ctx, s3c, "state", "ws1.tfstate", "state v1"); err != nil {
			t.Fatalf("put in the allowed bucket: %v", err)
		}
		if got, err := get(ctx, s3c, "state", "ws1.tfstate"); err != nil || got != "state v1" {
			t.Fatalf("get from the allowed bucket = %q, %v", got, err)
		}
		wantAPIError(t, put(ctx, s3c, "other", "ws1.tfstate", "x"), "AccessDenied", "")
	})

	t.Run("sub outside the policy condition", func(t *testing.T) {
		// MinIO issues credentials (the role policy is attached whatever the
		// sub) and the jwt:sub condition refuses them at S3.
		sub := "organization:demo:project:Default Project:workspace:ws2:run_phase:plan"
		creds, err := srv.AssumeRoleWithWebIdentity(ctx, arn, signRS256(t, iss.key, iss.claims(sub)), 900)
		if err != nil {
			t.Fatal(err)
		}
		s3c := srv.S3(creds)
		wantAPIError(t, put(ctx, s3c, "state", "ws2.tfstate", "x"), "AccessDenied", "")
		_, err = get(ctx, s3c, "state", "ws1.tfstate")
		wantAPIError(t, err, "AccessDenied", "")
	})

	refused := []struct {
		name        string
		token       func(t *testing.T) string
		code, inMsg string
	}{
		{"wrong audience", func(t *testing.T) string {
			c := iss.claims(ws1Sub)
			c.Audience = jwt.Audience{"someone-else"}
			return signRS256(t, iss.key, c)
		}, "InvalidParameterValue", "must match configured OpenID Client ID"},
		{"expired", func(t *testing.T) string {
			c := iss.claims(ws1Sub)
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
			c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			return signRS256(t, iss.key, c)
		}, "InvalidParameterValue", "Token is expired"},
		{"unpublished key under the published kid", func(t *testing.T) string {
			return signRS256(t, rsaKey(t), iss.claims(ws1Sub))
		}, "InvalidParameterValue", "verification error"},
		{"HS256 with kid=client id and an empty key", func(t *testing.T) string {
			return forgeHS256(t, iss.claims(ws1Sub))
		}, "InvalidParameterValue", "signature is invalid"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			creds, err := srv.AssumeRoleWithWebIdentity(ctx, arn, tc.token(t), 900)
			if err == nil {
				t.Fatalf("got credentials %s", creds.AccessKeyID)
			}
			wantAPIError(t, err, tc.code, tc.inMsg)
		})
	}
}

// wantAPIError fails unless err is an AWS API error with code and a message
// containing inMsg.
func wantAPIError(t *testing.T, err error, code, inMsg string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want API error %s", err, code)
	}
	if apiErr.ErrorCode() != code || !strings.Contains(apiErr.ErrorMessage(), inMsg) {
		t.Fatalf("got %s %q, want %s containing %q", apiErr.ErrorCode(), apiErr.ErrorMessage(), code, inMsg)
	}
}

func put(ctx context.Context, c *s3.Client, bucket, key, body string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	return err
}

func get(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	var b bytes.Buffer
	_, err = io.Copy(&b, out.Body)
	return b.String(), err
}
