package aws

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/peers/stsfake"
)

func TestConfigRootReadNeverShowsTheSecret(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	resp := e.mustWrite("config/root", map[string]any{
		"access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t-value", "region": "eu-west-1",
		"sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "iam_endpoint": "https://iam.amazonaws.com",
		"max_retries": json.Number("3"),
	})
	if resp != nil {
		t.Errorf("write answered %+v, want nothing", resp)
	}
	got := e.mustRead("config/root", nil).Data
	want := map[string]any{
		"access_key": "AKIAEXAMPLE", "region": "eu-west-1", "iam_endpoint": "https://iam.amazonaws.com",
		"sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "sts_region": "", "max_retries": 3,
		"username_template": defaultUsernameTemplate,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %v\nwant %v", got, want)
	}
	if b, _ := json.Marshal(got); strings.Contains(string(b), "s3cr3t-value") {
		t.Errorf("read shows the secret key: %s", b)
	}

	// A write replaces the whole configuration, as in Vault.
	e.mustWrite("config/root", map[string]any{"access_key": "AKIA2", "secret_key": "x"})
	got = e.mustRead("config/root", nil).Data
	if got["region"] != "" || got["max_retries"] != -1 || got["sts_endpoint"] != "" {
		t.Errorf("after a second write: %v", got)
	}
}

func TestConfigRootUnsetIsNotFound(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	if err := e.st.Delete(t.Context(), rootKey); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.call(engine.Read, "config/root", nil); resp != nil || err != nil {
		t.Errorf("got %v %v, want nil nil (404)", resp, err)
	}
}

func TestConfigRootDenials(t *testing.T) {
	tests := []struct {
		name string
		data map[string]any
		msg  string
	}{
		{"max_retries below -1", map[string]any{"max_retries": json.Number("-2")}, "max_retries must be between -1 and 100"},
		{"max_retries huge", map[string]any{"max_retries": float64(101)}, "max_retries must be between -1 and 100"},
		{"max_retries not a number", map[string]any{"max_retries": "many"}, `field "max_retries": expected an integer`},
		{"access key alone", map[string]any{"access_key": "AKIA"}, "access_key and secret_key must be given together"},
		{"secret key alone", map[string]any{"secret_key": "x"}, "access_key and secret_key must be given together"},
		{"sts_endpoint not a URL", map[string]any{"sts_endpoint": "sts.amazonaws.com"}, "sts_endpoint must be an http or https URL"},
		{"sts_endpoint other scheme", map[string]any{"sts_endpoint": "ftp://x"}, "sts_endpoint must be an http or https URL"},
		{"sts_endpoint with credentials", map[string]any{"sts_endpoint": "https://u:p@sts.amazonaws.com"}, "sts_endpoint must be an http or https URL"},
		{"iam_endpoint not a URL", map[string]any{"iam_endpoint": "::"}, "iam_endpoint must be an http or https URL"},
		{"region not a string", map[string]any{"region": []any{"a"}}, `field "region": expected a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, stsfake.Options{})
			_, err := e.call(engine.Update, "config/root", tt.data)
			wantErr(t, err, fail.Invalid, tt.msg)
			// The previous configuration is untouched.
			if got := e.mustRead("config/root", nil).Data["access_key"]; got != e.sts.AccessKey {
				t.Errorf("configuration changed to access_key %v", got)
			}
		})
	}
}

func TestConfigRootWarnings(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	resp := e.mustWrite("config/root", map[string]any{
		"access_key": "a", "secret_key": "b", "username_template": "{{ .DisplayName }}", "role_arn": "arn:aws:iam::1:role/x",
	})
	if resp == nil || len(resp.Warnings) != 2 ||
		resp.Warnings[0] != "Endpoint ignored these unrecognized parameters: [role_arn]" ||
		!strings.HasPrefix(resp.Warnings[1], "username_template is stored but not used") {
		t.Errorf("warnings %+v", resp)
	}
	if got := e.mustRead("config/root", nil).Data["username_template"]; got != "{{ .DisplayName }}" {
		t.Errorf("username_template read back as %v", got)
	}
}

func TestConfigLease(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	if resp, err := e.call(engine.Read, "config/lease", nil); resp != nil || err != nil {
		t.Errorf("unset lease: %v %v, want nil nil (404)", resp, err)
	}
	for _, tt := range []struct {
		data map[string]any
		msg  string
	}{
		{map[string]any{"lease_max": "1h"}, "'lease' is a required parameter"},
		{map[string]any{"lease": "1h"}, "'lease_max' is a required parameter"},
		{map[string]any{"lease": "soon", "lease_max": "1h"}, `field "lease": expected a duration`},
		{map[string]any{"lease": "1h", "lease_max": "-1"}, "Invalid lease_max: must not be negative"},
	} {
		_, err := e.call(engine.Update, "config/lease", tt.data)
		wantErr(t, err, fail.Invalid, tt.msg)
	}
	e.mustWrite("config/lease", map[string]any{"lease": "30m", "lease_max": json.Number("43200")})
	got := e.mustRead("config/lease", nil).Data
	if got["lease"] != "30m0s" || got["lease_max"] != "12h0m0s" {
		t.Errorf("read %v", got)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, stsfake.Options{})
	for _, tt := range []struct {
		op   engine.Operation
		path string
		kind fail.Kind
		msg  string
	}{
		{engine.Read, "nope", fail.NotFound, `no handler for route "aws/nope". route entry not found.`},
		{engine.Read, "roles/bad name", fail.NotFound, "no handler for route"},
		{engine.Read, "creds/-x", fail.NotFound, "no handler for route"},
		{engine.Read, "creds/", fail.NotFound, "no handler for route"},
		{engine.Read, "config/rotate-root", fail.NotFound, "no handler for route"},
		{engine.Delete, "config/root", fail.Unsupported, "unsupported operation"},
		{engine.List, "config/lease", fail.Unsupported, "unsupported operation"},
		{engine.Read, "roles", fail.Unsupported, "unsupported operation"},
		{engine.List, "roles/x", fail.Unsupported, "unsupported operation"},
		{engine.Delete, "creds/x", fail.Unsupported, "unsupported operation"},
		{engine.Patch, "sts/x", fail.Unsupported, "unsupported operation"},
	} {
		_, err := e.call(tt.op, tt.path, nil)
		wantErr(t, err, tt.kind, tt.msg)
	}
}
