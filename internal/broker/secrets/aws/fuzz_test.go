package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/peers/stsfake"
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

// FuzzSessionName drives creds/:role (assumed_role) and sts/:role
// (federation_token) through engine.Serve against the fake STS: whatever a
// token's metadata, display name, the role's name or a caller's
// role_session_name holds, the name sent to STS is one it accepts (at most
// 64 or 32 of [\w+=,.@-]), and a run's token never chooses its session's
// name: asking for one is refused before STS is called, and the name it
// gets is the run's whatever its display name or role.
func FuzzSessionName(f *testing.F) {
	f.Add("run-abc", "plan", "jwt-x", "deploy", "")
	f.Add("run-abc", "apply", "jwt-x", "deploy", "evil-session")
	f.Add("ü/ß", "\x00", "", "r", "my session")
	f.Add("", "", "someone ü", "r", "")
	f.Add("", "", "", "r", "my session/ü")
	f.Add("ü/ß", "\x00", "", "r", "")
	f.Add("", "", "", "r", "x")
	f.Add("", "", "", "r", strings.Repeat("long", 30))
	f.Add(strings.Repeat("run", 30), "plan", "", "r", "")
	e := newEnv(f, stsfake.Options{})
	ctx := context.Background()
	serve := func(op engine.Operation, path string, data map[string]any, tok *engine.Token) (*engine.Response, error) {
		return engine.Serve(ctx, e.b.Routes(), &engine.Request{Operation: op, Path: path, MountPath: mount, Data: data, Token: tok, Storage: e.st})
	}
	e.mustWrite("roles/federated", map[string]any{"credential_type": "federation_token", "policy_document": `{"Version":"2012-10-17"}`})
	f.Fuzz(func(t *testing.T, run, phase, display, roleName, asked string) {
		if _, err := serve(engine.Update, "roles/"+roleName, map[string]any{"credential_type": "assumed_role", "role_arns": testRole}, nil); err != nil {
			return // not a role name; the role routes decide that
		}
		tok := &engine.Token{DisplayName: display, Meta: map[string]string{metaRunID: run, metaRunPhase: phase}}
		data := map[string]any{}
		if asked != "" {
			data["role_session_name"] = asked
		}
		calls := len(e.sts.Calls())
		_, err := serve(engine.Update, "creds/"+roleName, data, tok)
		switch {
		case run != "" && asked != "":
			if fail.KindOf(err) != fail.Invalid || len(e.sts.Calls()) != calls {
				t.Fatalf("a run's token named its session %q: %v, %d STS calls", asked, err, len(e.sts.Calls())-calls)
			}
		case utf8.RuneCountInString(asked) == 1:
			// A one-character name is the caller's mistake, which STS refuses.
		case err != nil:
			t.Fatalf("creds: %v", err)
		default:
			c, _ := e.sts.Last()
			if c.Action != "AssumeRole" || !stsName.MatchString(c.RoleSessionName) {
				t.Fatalf("%s with session name %q", c.Action, c.RoleSessionName)
			}
			if run != "" && phase != "" {
				// The run's name, the same with any other display name and role.
				other := &engine.Token{DisplayName: "x" + display, Meta: tok.Meta}
				if _, err := serve(engine.Update, "creds/"+roleName, map[string]any{}, other); err != nil {
					t.Fatal(err)
				}
				if again, _ := e.sts.Last(); !strings.HasPrefix(c.RoleSessionName, "runcred-") || again.RoleSessionName != c.RoleSessionName {
					t.Fatalf("run %q %s's session names: %q, then %q", run, phase, c.RoleSessionName, again.RoleSessionName)
				}
			}
		}
		if _, err := serve(engine.Update, "sts/federated", map[string]any{}, tok); err != nil {
			t.Fatalf("sts: %v", err)
		}
		if c, _ := e.sts.Last(); c.Action != "GetFederationToken" || len(c.Name) > maxFederationName || !stsName.MatchString(c.Name) {
			t.Fatalf("%s with name %q", c.Action, c.Name)
		}
	})
}
