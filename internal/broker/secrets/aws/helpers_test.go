package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

const (
	testRole  = "arn:aws:iam::123456789012:role/deploy"
	otherRole = "arn:aws:iam::123456789012:role/audit"
	mount     = "aws/"
)

// env is an engine on in-memory storage, configured against a fake STS.
type env struct {
	t   testing.TB
	b   *Backend
	st  *enginetest.Storage
	sts *stsfake.Server
	now time.Time
}

func newEnv(t testing.TB, opts stsfake.Options) *env {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	opts.Now = func() time.Time { return now }
	e := &env{t: t, st: enginetest.NewStorage(), sts: stsfake.Start(t, opts), now: now}
	b, err := New(engine.MountConfig{Path: mount, Type: "aws", DefaultLeaseTTL: 768 * time.Hour, MaxLeaseTTL: 768 * time.Hour},
		Options{Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.b = b
	e.mustWrite("config/root", map[string]any{
		"access_key": e.sts.AccessKey, "secret_key": e.sts.SecretKey,
		"sts_endpoint": e.sts.URL, "max_retries": "0",
	})
	return e
}

// do sends a request as the core would, with an optional calling token.
func (e *env) do(op engine.Operation, path string, data map[string]any, tok *engine.Token) (*engine.Response, error) {
	e.t.Helper()
	if data == nil {
		data = map[string]any{}
	}
	return engine.Serve(context.Background(), e.b.Routes(), &engine.Request{
		Operation: op, Path: path, MountPath: mount, Data: data, Token: tok, Storage: e.st,
	})
}

func (e *env) call(op engine.Operation, path string, data map[string]any) (*engine.Response, error) {
	e.t.Helper()
	return e.do(op, path, data, nil)
}

func (e *env) mustWrite(path string, data map[string]any) *engine.Response {
	e.t.Helper()
	resp, err := e.call(engine.Update, path, data)
	if err != nil {
		e.t.Fatalf("write %s: %v", path, err)
	}
	return resp
}

func (e *env) mustRead(path string, data map[string]any) *engine.Response {
	e.t.Helper()
	resp, err := e.call(engine.Read, path, data)
	if err != nil || resp == nil {
		e.t.Fatalf("read %s: %v %v", path, resp, err)
	}
	return resp
}

// lastCall is the fake STS's latest authenticated call.
func (e *env) lastCall() stsfake.Call {
	e.t.Helper()
	c, ok := e.sts.Last()
	if !ok {
		e.t.Fatal("no STS call")
	}
	return c
}

// wantErr fails unless err has kind k and its client message contains msg.
func wantErr(t testing.TB, err error, k fail.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %q", k, msg)
	}
	if fail.KindOf(err) != k || !strings.Contains(fail.Message(err), msg) {
		t.Fatalf("got %s %q, want %s containing %q", fail.KindOf(err), fail.Message(err), k, msg)
	}
}

func runToken(run, phase string) *engine.Token {
	return &engine.Token{DisplayName: "jwt-run", Meta: map[string]string{
		"terraform_run_id": run, "terraform_run_phase": phase,
	}}
}
