package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/identity"
)

// TestPhaseTokenTTLValidated: a phase token lifetime is whole seconds and
// no longer than any minted token may live.
func TestPhaseTokenTTLValidated(t *testing.T) {
	base := Config{Addr: "127.0.0.1:0", Database: "x.db", RootKeyFile: "k", Identity: identity.DefaultPolicy()}
	for ttl, want := range map[time.Duration]string{
		0: "", 15 * time.Minute: "", 1500 * time.Millisecond: "whole number of seconds",
		-time.Second: "whole number of seconds", base.Identity.MaxTokenTTL + time.Second: "exceeds the maximum",
	} {
		c := base
		c.PhaseTokenTTL = ttl
		err := c.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("PhaseTokenTTL %s: %v, want %q", ttl, err, want)
		}
	}
}
