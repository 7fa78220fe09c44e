package agent

import (
	"maps"
	"testing"

	"github.com/runcred/runcred/internal/secret"
)

// TestRunTokenEnv: the run token reaches the tfe provider (TFE_TOKEN,
// TFE_HOSTNAME) and OpenTofu (TF_TOKEN_<host>, named as OpenTofu reads
// it), never under a name no environment variable may have; a phase
// without one gets nothing.
func TestRunTokenEnv(t *testing.T) {
	tok := secret.FromString("hvs.run")
	for _, tc := range []struct {
		server string
		want   map[string]string
	}{
		{"https://runcred.example-corp.com", map[string]string{"TFE_TOKEN": "hvs.run", "TFE_HOSTNAME": "runcred.example-corp.com",
			"TF_TOKEN_runcred_example__corp_com": "hvs.run"}},
		{"https://Runcred.Example:443/", map[string]string{"TFE_TOKEN": "hvs.run", "TFE_HOSTNAME": "runcred.example", "TF_TOKEN_runcred_example": "hvs.run"}},
		{"https://127.0.0.1:8443", map[string]string{"TFE_TOKEN": "hvs.run", "TFE_HOSTNAME": "127.0.0.1:8443"}},
		{"::bad", map[string]string{"TFE_TOKEN": "hvs.run"}},
	} {
		if got := runTokenEnv(tc.server, tok); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.server, got, tc.want)
		}
	}
	if got := runTokenEnv("https://runcred.example", secret.Value{}); len(got) != 0 {
		t.Errorf("no run token: %v", got)
	}
}
