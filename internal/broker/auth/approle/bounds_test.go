package approle

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"

	"github.com/runcred/runcred/internal/broker/engine"
)

// TestBoundsInclusive holds every limit at its edge: the last value a bound
// admits is admitted, so a check that drifts by one is seen.
func TestBoundsInclusive(t *testing.T) {
	h := newHarness(t)
	// The last letter and digit of each range are valid name bytes; an
	// upper-case one is refused only for its case.
	_, err := h.do(engine.Create, "role/zZ09", nil)
	wantErr(t, err, fail.Invalid, `use "zz09"`)
	h.createRole("zz09", nil)
	// Zero is not negative; a token_max_ttl equal to the mount's maximum
	// is not truncated, so it warns of nothing (and a write without
	// warnings has no response).
	if resp := h.must(engine.Create, "role/r", map[string]any{
		"secret_id_ttl": 0, "secret_id_num_uses": 0, "token_max_ttl": "24h", "period": "24h",
		"secret_id_bound_cidrs": "10.0.0.0/8",
	}); resp != nil {
		t.Fatalf("role write at the bounds: %+v", resp)
	}
	// A role_id and a custom secret ID of the maximum length are stored
	// and log in.
	maxRoleID := strings.Repeat("r", maxInputLength)
	h.must(engine.Update, "role/r/role-id", map[string]any{"role_id": maxRoleID})
	maxSecret := strings.Repeat("s", maxInputLength)
	// A secret ID may carry exactly its role's CIDR block.
	h.must(engine.Update, "role/r/custom-secret-id", map[string]any{"secret_id": maxSecret, "cidr_list": "10.0.0.0/8"})
	wantLoginOK(t)(h.login(defaultAddr, maxRoleID, maxSecret))
}

// TestFieldEndpointWarns checks a single-field write returns the warnings
// its validation gives.
func TestFieldEndpointWarns(t *testing.T) {
	h := newHarness(t)
	h.createRole("r", nil)
	resp := h.must(engine.Update, "role/r/token-max-ttl", map[string]any{"token_max_ttl": "48h"})
	if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "token_max_ttl is greater than") {
		t.Fatalf("response %+v", resp)
	}
}
