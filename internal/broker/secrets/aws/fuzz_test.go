package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/fail"
)

// FuzzRoleWrite sends arbitrary JSON bodies to roles/:name. A write must
// either be refused as invalid or store a role that passes validation and
// reads back; it must never panic or fail as an internal error.
func FuzzRoleWrite(f *testing.F) {
	for _, seed := range []string{
		`{"credential_type":"assumed_role","role_arns":"arn:aws:iam::1:role/a,arn:aws:iam::1:role/b","session_tags":["a=b"]}`,
		`{"credential_type":"federation_token","policy_document":"{\"Version\":\"2012-10-17\"}","max_sts_ttl":"1h"}`,
		`{"credential_type":"session_token","mfa_serial_number":"x","default_sts_ttl":900}`,
		`{"credential_type":"assumed_role","role_arns":["arn:x"],"iam_groups":"g","policy_arns":[1,2]}`,
		`{"credential_type":"iam_user"}`,
		`{"session_tags":{"a":1},"ttl":"7d","external_id":null}`,
		`{"default_sts_ttl":"-1","max_sts_ttl":"99999999999999"}`,
		`[]`,
	} {
		f.Add(seed)
	}
	b, err := New(engine.MountConfig{Path: "aws/", Type: "aws"}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(bytes.NewReader([]byte(body)))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		st := enginetest.NewStorage()
		ctx := context.Background()
		_, err := engine.Serve(ctx, b.Routes(), &engine.Request{Operation: engine.Update, Path: "roles/r", MountPath: "aws/", Data: data, Storage: st})
		if err != nil {
			if fail.KindOf(err) != fail.Invalid {
				t.Fatalf("write failed as %s: %v", fail.KindOf(err), err)
			}
			return
		}
		r, err := loadRole(ctx, st, "r")
		if err != nil || r == nil {
			t.Fatalf("stored role unreadable: %v", err)
		}
		if errs := r.validate(); len(errs) > 0 {
			t.Fatalf("stored an invalid role: %v", errs)
		}
		resp, err := engine.Serve(ctx, b.Routes(), &engine.Request{Operation: engine.Read, Path: "roles/r", MountPath: "aws/", Data: map[string]any{}, Storage: st})
		if err != nil || resp == nil || resp.Data["credential_type"] != r.CredentialType {
			t.Fatalf("read back %v %v", resp, err)
		}
	})
}

// stsName is what STS accepts as a RoleSessionName.
var stsName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// FuzzSessionName checks that whatever a token's metadata, display name or
// a caller's role_session_name holds, the names sent to STS are ones it
// accepts.
func FuzzSessionName(f *testing.F) {
	f.Add("run-abc", "plan", "jwt-x", "deploy", "")
	f.Add("ü/ß", "\x00", "", "r", "my session")
	f.Fuzz(func(t *testing.T, run, phase, display, roleName, asked string) {
		tok := &engine.Token{DisplayName: display, Meta: map[string]string{metaRunID: run, metaRunPhase: phase}}
		now := time.Unix(1700000000, 0)
		name := asked
		if name == "" {
			var err error
			if name, err = defaultSessionName(tok, roleName, now); err != nil {
				t.Fatal(err)
			}
		}
		name = truncate(normalize(name), maxSessionName)
		if utf8.RuneCountInString(asked) != 1 && !stsName.MatchString(name) {
			t.Fatalf("session name %q", name)
		}
		fed, err := federationName(tok, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(fed) > maxFederationName || !stsName.MatchString(fed) {
			t.Fatalf("federation name %q", fed)
		}
	})
}
