package cli

import (
	"strings"
	"testing"
	"time"
)

// TestServerLimitSettings: the HTTP limit settings reach the daemon's
// configuration, and a bad one is refused naming it.
func TestServerLimitSettings(t *testing.T) {
	ss := serverSettings()
	for _, s := range ss {
		s.val = s.def
	}
	ss.find("database").val = "x.db"
	ss.find("root-key-file").val = "root-key"
	ss.find("body-grace").val = "45s"
	ss.find("idle-timeout").val = "3m"
	ss.find("body-budget-mib").val = "64"
	cfg, err := ss.daemonConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.BodyGrace != 45*time.Second || cfg.Limits.IdleTimeout != 3*time.Minute || cfg.Limits.BodyBudget != 64<<20 {
		t.Fatalf("limits %+v", cfg.Limits)
	}
	for key, bad := range map[string]string{"body-grace": "0s", "idle-timeout": "soon", "body-budget-mib": "0"} {
		old := ss.find(key).val
		ss.find(key).val = bad
		if _, err := ss.daemonConfig(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s = %q: %v, want an error naming it", key, bad, err)
		}
		ss.find(key).val = old
	}
}
