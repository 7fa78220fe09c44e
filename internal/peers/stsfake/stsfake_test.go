package stsfake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/runcred/runcred/internal/peers/stsfake"
)

const role = "arn:aws:iam::123456789012:role/deploy"

// client talks to s with the given key pair through the real SDK.
func client(s *stsfake.Server, accessKey, secretKey string) *sts.Client {
	return sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestSDKCallsAreDecodedAndAnswered(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	s := stsfake.Start(t, stsfake.Options{Now: func() time.Time { return now }})
	c := client(s, s.AccessKey, s.SecretKey)
	ctx := context.Background()

	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("runcred-run-1-plan"),
		DurationSeconds: aws.Int32(900), Policy: aws.String(`{"Version":"2012-10-17"}`),
		PolicyArns: []types.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::aws:policy/A")}, {Arn: aws.String("arn:aws:iam::aws:policy/B")}},
		ExternalId: aws.String("ext"),
		Tags:       []types.Tag{{Key: aws.String("run"), Value: aws.String("run-1")}, {Key: aws.String("phase"), Value: aws.String("plan")}},
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::123456789012:assumed-role/deploy/runcred-run-1-plan"; got != want {
		t.Errorf("arn %q, want %q", got, want)
	}
	if got := aws.ToTime(out.Credentials.Expiration); !got.Equal(now.Add(900 * time.Second)) {
		t.Errorf("expiration %v, want %v", got, now.Add(900*time.Second))
	}
	call, ok := s.Issued(aws.ToString(out.Credentials.AccessKeyId))
	if !ok {
		t.Fatal("issued credentials not recorded")
	}
	if call.Action != "AssumeRole" || call.RoleArn != role || call.RoleSessionName != "runcred-run-1-plan" ||
		call.DurationSeconds != 900 || call.Policy != `{"Version":"2012-10-17"}` || call.ExternalID != "ext" ||
		strings.Join(call.PolicyArns, ",") != "arn:aws:iam::aws:policy/A,arn:aws:iam::aws:policy/B" ||
		len(call.Tags) != 2 || call.Tags[0] != (stsfake.Tag{Key: "run", Value: "run-1"}) || call.TagMap()["phase"] != "plan" ||
		call.AccessKey != s.AccessKey || call.Region != "us-east-1" {
		t.Errorf("recorded %+v", call)
	}

	fed, err := c.GetFederationToken(ctx, &sts.GetFederationTokenInput{Name: aws.String("vault-1-abc"), Policy: aws.String(`{}`)})
	if err != nil {
		t.Fatalf("GetFederationToken: %v", err)
	}
	if got := aws.ToString(fed.FederatedUser.Arn); got != "arn:aws:sts::123456789012:federated-user/vault-1-abc" {
		t.Errorf("federated arn %q", got)
	}
	if got := aws.ToTime(fed.Credentials.Expiration); !got.Equal(now.Add(12 * time.Hour)) {
		t.Errorf("federation default expiration %v, want 12h", got.Sub(now))
	}
	sess, err := c.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatalf("GetSessionToken: %v", err)
	}
	if got := aws.ToTime(sess.Credentials.Expiration); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("session expiration %v, want 1h", got.Sub(now))
	}
	if n := len(s.Calls()); n != 3 {
		t.Errorf("%d calls recorded, want 3", n)
	}
}

func TestRefusals(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{
		Roles:       []string{role},
		ExternalIDs: map[string]string{role: "ext"},
	})
	good := client(s, s.AccessKey, s.SecretKey)
	ctx := context.Background()
	assume := func(c *sts.Client, arn, ext string, dur int32, policy string) error {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("s1"), ExternalId: aws.String(ext)}
		if dur != 0 {
			in.DurationSeconds = aws.Int32(dur)
		}
		if policy != "" {
			in.Policy = aws.String(policy)
		}
		_, err := c.AssumeRole(ctx, in)
		return err
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"wrong secret", assume(client(s, s.AccessKey, "wrong"), role, "ext", 0, ""), "SignatureDoesNotMatch"},
		{"unknown access key", assume(client(s, "AKIAOTHER0000000000", s.SecretKey), role, "ext", 0, ""), "InvalidClientTokenId"},
		{"unsigned", func() error {
			c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
			_, err := c.GetSessionToken(ctx, &sts.GetSessionTokenInput{})
			return err
		}(), "MissingAuthenticationToken"},
		{"role not assumable", assume(good, "arn:aws:iam::123456789012:role/other", "ext", 0, ""), "AccessDenied"},
		{"external id missing", assume(good, role, "nope", 0, ""), "AccessDenied"},
		{"duration too short", assume(good, role, "ext", 60, ""), "ValidationError"},
		{"duration above role max", assume(good, role, "ext", 7200, ""), "ValidationError"},
		{"malformed policy", assume(good, role, "ext", 0, "{not json"), "MalformedPolicyDocument"},
		{"federation name too long", func() error {
			_, err := good.GetFederationToken(ctx, &sts.GetFederationTokenInput{Name: aws.String(strings.Repeat("n", 33)), Policy: aws.String("{}")})
			return err
		}(), "ValidationError"},
	}
	for _, tt := range tests {
		if got := code(tt.err); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFailWith(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{})
	c := client(s, s.AccessKey, s.SecretKey)
	s.FailWith(&stsfake.Error{Status: 503, Code: "ServiceUnavailable", Message: "down"})
	_, err := c.GetSessionToken(context.Background(), &sts.GetSessionTokenInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ServiceUnavailable" || api.ErrorMessage() != "down" {
		t.Fatalf("got %v", err)
	}
	if len(s.Calls()) != 1 {
		t.Errorf("the failed call was not recorded")
	}
	s.FailWith(nil)
	if _, err := c.GetSessionToken(context.Background(), &sts.GetSessionTokenInput{}); err != nil {
		t.Fatalf("after FailWith(nil): %v", err)
	}
}

// A signature over one body does not cover another, and a stale signature
// is refused: the fake checks the whole SigV4 computation, not just the key.
func TestSignatureCoversBodyAndTime(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{})
	send := func(signed, sent string, at time.Time) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(sent))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sum := sha256.Sum256([]byte(signed))
		creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		req.Body = io.NopCloser(bytes.NewReader([]byte(sent)))
		req.ContentLength = int64(len(sent))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := "Action=GetSessionToken&Version=2011-06-15"
	if status, doc := send(body, body, time.Now()); status != 200 || !strings.Contains(doc, "<GetSessionTokenResult>") {
		t.Fatalf("genuine request: %d %s", status, doc)
	}
	if status, doc := send(body, body+"&DurationSeconds=129600", time.Now()); status != 403 || !strings.Contains(doc, "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("tampered body: %d %s", status, doc)
	}
	if status, doc := send(body, body, time.Now().Add(-time.Hour)); status != 403 || !strings.Contains(doc, "Signature expired") {
		t.Errorf("stale signature: %d %s", status, doc)
	}
	if n := len(s.Calls()); n != 1 {
		t.Errorf("%d calls recorded, want only the genuine one", n)
	}
}

// TestGetCallerIdentity: temporary credentials the fake issued identify
// themselves, signed in full with their secret and their session token;
// a wrong secret, another session's token or an expired session does not.
func TestGetCallerIdentity(t *testing.T) {
	// Issued 800 s ago for 900 s: valid for 100 s more by the real clock
	// the SDK signs with, and the fake's clock can pass the expiry while
	// staying within the signature's allowed skew.
	issued := time.Now().UTC().Add(-800 * time.Second)
	clock := func() time.Time { return issued }
	s := stsfake.Start(t, stsfake.Options{Now: func() time.Time { return clock() }})
	ctx := context.Background()
	out, err := client(s, s.AccessKey, s.SecretKey).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("vault-deploy"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := client(s, s.AccessKey, s.SecretKey).GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	session := func(key, secret, token string) *sts.Client {
		return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, token)})
	}
	clock = time.Now
	id, err := session(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Arn) != "arn:aws:sts::123456789012:assumed-role/deploy/vault-deploy" || aws.ToString(id.Account) != "123456789012" {
		t.Fatalf("identity %s %s", aws.ToString(id.Arn), aws.ToString(id.Account))
	}
	if id, err := client(s, s.AccessKey, s.SecretKey).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil ||
		aws.ToString(id.Arn) != "arn:aws:iam::123456789012:user/runcred" {
		t.Fatalf("long-term keys: %v %v", id, err)
	}
	for _, bad := range []struct {
		name, key, secret, token, code string
	}{
		{"wrong secret", *cr.AccessKeyId, *other.Credentials.SecretAccessKey, *cr.SessionToken, "SignatureDoesNotMatch"},
		{"another session's token", *cr.AccessKeyId, *cr.SecretAccessKey, *other.Credentials.SessionToken, "InvalidClientTokenId"},
		{"unknown key", "ASIAUNKNOWNKEY000000", *cr.SecretAccessKey, *cr.SessionToken, "InvalidClientTokenId"},
	} {
		if _, err := session(bad.key, bad.secret, bad.token).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); code(err) != bad.code {
			t.Errorf("%s: %v, want %s", bad.name, err, bad.code)
		}
	}
	if _, err := session(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("chain")}); code(err) != "InvalidAction" {
		t.Errorf("role chaining with temporary credentials: %v, want InvalidAction", err)
	}
	clock = func() time.Time { return time.Now().Add(200 * time.Second) }
	if _, err := session(*cr.AccessKeyId, *cr.SecretAccessKey, *cr.SessionToken).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); code(err) != "ExpiredToken" {
		t.Errorf("expired session: %v, want ExpiredToken", err)
	}
}
