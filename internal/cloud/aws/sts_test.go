package aws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/cloud/aws"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/peers/stsfake"
	"github.com/runcred/runcred/internal/secret"
)

const role = "arn:aws:iam::123456789012:role/deploy"

func newSTS(s *stsfake.Server, mod func(*aws.Config)) *aws.STS {
	cfg := aws.Config{AccessKey: s.AccessKey, SecretKey: secret.FromString(s.SecretKey), STSEndpoint: s.URL, MaxRetries: 0}
	if mod != nil {
		mod(&cfg)
	}
	return aws.NewSTS(cfg)
}

func TestAssumeRoleSendsEverything(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	s := stsfake.Start(t, stsfake.Options{Now: func() time.Time { return now }})
	c, err := newSTS(s, nil).AssumeRole(context.Background(), aws.AssumeRoleInput{
		RoleARN: role, SessionName: "runcred-run-1-apply", Duration: 15 * time.Minute,
		Policy: `{"Version":"2012-10-17","Statement":[]}`, PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
		ExternalID: "ext-1", Tags: map[string]string{"phase": "apply", "run": "run-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	call, ok := s.Issued(c.AccessKeyID)
	if !ok {
		t.Fatalf("credentials %q were not issued by the fake", c.AccessKeyID)
	}
	if call.RoleArn != role || call.RoleSessionName != "runcred-run-1-apply" || call.DurationSeconds != 900 ||
		call.Policy != `{"Version":"2012-10-17","Statement":[]}` || len(call.PolicyArns) != 1 || call.ExternalID != "ext-1" ||
		fmt.Sprint(call.Tags) != "[{phase apply} {run run-1}]" || call.Region != aws.DefaultRegion {
		t.Errorf("sent %+v", call)
	}
	if c.ARN != "arn:aws:sts::123456789012:assumed-role/deploy/runcred-run-1-apply" {
		t.Errorf("ARN %q", c.ARN)
	}
	if !c.Expiration.Equal(now.Add(15*time.Minute)) || c.SecretAccessKey.Empty() || c.SessionToken.Empty() {
		t.Errorf("credentials %+v", c)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, c.SecretAccessKey.RevealString()) || strings.Contains(s, c.SessionToken.RevealString()) {
		t.Errorf("credentials print their secrets: %s", s)
	}
}

func TestFederationAndSessionTokens(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{})
	client := newSTS(s, func(c *aws.Config) { c.Region = "eu-west-1" })
	ctx := context.Background()
	fed, err := client.GetFederationToken(ctx, aws.FederationTokenInput{Name: "vault-1-abc", Duration: time.Hour,
		Policy: `{"Version":"2012-10-17"}`, PolicyARNs: []string{"arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"}})
	if err != nil {
		t.Fatal(err)
	}
	call, _ := s.Issued(fed.AccessKeyID)
	if call.Action != "GetFederationToken" || call.Name != "vault-1-abc" || call.DurationSeconds != 3600 ||
		len(call.PolicyArns) != 2 || call.Policy == "" || call.Region != "eu-west-1" {
		t.Errorf("sent %+v", call)
	}
	if fed.ARN != "arn:aws:sts::123456789012:federated-user/vault-1-abc" {
		t.Errorf("ARN %q", fed.ARN)
	}

	sess, err := client.GetSessionToken(ctx, aws.SessionTokenInput{Duration: 2 * time.Hour, SerialNumber: "arn:aws:iam::123456789012:mfa/u", TokenCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	call, _ = s.Issued(sess.AccessKeyID)
	if call.Action != "GetSessionToken" || call.DurationSeconds != 7200 || call.SerialNumber == "" || call.TokenCode != "123456" {
		t.Errorf("sent %+v", call)
	}
	if sess.ARN != "" {
		t.Errorf("session token has ARN %q", sess.ARN)
	}
	// Zero durations are left to STS's defaults.
	if _, err := client.GetSessionToken(ctx, aws.SessionTokenInput{}); err != nil {
		t.Fatal(err)
	}
	if last, _ := s.Last(); last.Form.Has("DurationSeconds") {
		t.Errorf("zero duration sent as %q", last.Form.Get("DurationSeconds"))
	}
}

func TestErrorKinds(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{Roles: []string{role}})
	ctx := context.Background()
	assume := func(c *aws.STS, arn string, d time.Duration) error {
		_, err := c.AssumeRole(ctx, aws.AssumeRoleInput{RoleARN: arn, SessionName: "s1", Duration: d})
		return err
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	t.Cleanup(garbage.Close)

	tests := []struct {
		name string
		fail *stsfake.Error
		err  func() error
		kind fail.Kind
		msg  string
	}{
		{name: "access denied", err: func() error { return assume(newSTS(s, nil), "arn:aws:iam::123456789012:role/other", 0) },
			kind: fail.Invalid, msg: "sts: AccessDenied: User: arn:aws:iam::123456789012:user/runcred is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/other"},
		{name: "bad duration", err: func() error { return assume(newSTS(s, nil), role, time.Minute) },
			kind: fail.Invalid, msg: "sts: ValidationError: 1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{name: "wrong secret", err: func() error {
			return assume(newSTS(s, func(c *aws.Config) { c.SecretKey = secret.FromString("x") }), role, 0)
		}, kind: fail.Invalid, msg: "sts: SignatureDoesNotMatch: "},
		{name: "malformed role ARN", err: func() error { return assume(newSTS(s, nil), "arn:short", 0) },
			kind: fail.Invalid, msg: "sts: ValidationError: arn:short is invalid"},
		{name: "server error", fail: &stsfake.Error{Status: 500, Code: "InternalFailure", Message: "boom"},
			err: func() error { return assume(newSTS(s, nil), role, 0) }, kind: fail.Upstream, msg: "sts: InternalFailure: boom"},
		{name: "throttled", fail: &stsfake.Error{Status: 400, Code: "Throttling", Message: "Rate exceeded"},
			err: func() error { return assume(newSTS(s, nil), role, 0) }, kind: fail.Upstream, msg: "sts: Throttling: Rate exceeded"},
		{name: "unreachable", err: func() error {
			return assume(newSTS(s, func(c *aws.Config) { c.STSEndpoint = closed.URL }), role, 0)
		}, kind: fail.Upstream, msg: "sts: request failed"},
		{name: "not an STS", err: func() error {
			return assume(newSTS(s, func(c *aws.Config) { c.STSEndpoint = garbage.URL }), role, 0)
		}, kind: fail.Upstream, msg: "sts: request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.FailWith(tt.fail)
			defer s.FailWith(nil)
			err := tt.err()
			if fail.KindOf(err) != tt.kind || !strings.HasPrefix(fail.Message(err), tt.msg) {
				t.Errorf("got %v (%s, %q), want %s %q", err, fail.KindOf(err), fail.Message(err), tt.kind, tt.msg)
			}
		})
	}
}

func TestMaxRetries(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{})
	s.FailWith(&stsfake.Error{Status: 500, Code: "InternalFailure", Message: "boom"})
	for _, tt := range []struct{ retries, calls int }{{0, 1}, {1, 2}} {
		before := len(s.Calls())
		_, err := newSTS(s, func(c *aws.Config) { c.MaxRetries = tt.retries }).GetSessionToken(context.Background(), aws.SessionTokenInput{})
		if err == nil {
			t.Fatal("no error")
		}
		if got := len(s.Calls()) - before; got != tt.calls {
			t.Errorf("max_retries %d: %d calls, want %d", tt.retries, got, tt.calls)
		}
	}
}

func TestLongMessagesAreBounded(t *testing.T) {
	s := stsfake.Start(t, stsfake.Options{})
	s.FailWith(&stsfake.Error{Status: 403, Code: "AccessDenied", Message: strings.Repeat("é\n", 2000)})
	_, err := newSTS(s, nil).GetSessionToken(context.Background(), aws.SessionTokenInput{})
	msg := fail.Message(err)
	if len(msg) > 600 || strings.Contains(msg, "\n") || !strings.HasSuffix(msg, "…") || !strings.HasPrefix(msg, "sts: AccessDenied: é é") {
		t.Errorf("message %d bytes: %q (cause: %v)", len(msg), msg, err)
	}
}
