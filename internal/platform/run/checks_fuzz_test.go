package run

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/platform/resource"
)

// FuzzStageOf feeds untrusted task stage, policy evaluation and outcome
// ids (they arrive in URL paths): an id is taken only when it names a
// valid task stage id, and an outcome id is the one OutcomeID makes.
func FuzzStageOf(f *testing.F) {
	for _, s := range []string{"ts-Abc123", "poleval-Abc123", "psout-Abc1230007", "psout-0000", "ts-", "x", "psout-a-b0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		stage, idx, ok := stageOf(id)
		if !ok {
			return
		}
		if !resource.ValidID("ts", stage) {
			t.Fatalf("stageOf(%q) = %q, not a task stage id", id, stage)
		}
		c := Check{ID: stage}
		switch {
		case strings.HasPrefix(id, "psout-"):
			if idx < 0 || c.OutcomeID(idx) != id {
				t.Fatalf("stageOf(%q) = %q, %d; OutcomeID gives %q", id, stage, idx, c.OutcomeID(idx))
			}
		case idx != -1:
			t.Fatalf("stageOf(%q) = index %d", id, idx)
		}
	})
}
