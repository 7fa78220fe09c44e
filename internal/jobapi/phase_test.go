package jobapi

import (
	"encoding/json"
	"testing"
)

func TestParsePhase(t *testing.T) {
	for in, want := range map[string]Phase{"plan": Plan, "apply": Apply} {
		if got, err := ParsePhase(in); err != nil || got != want {
			t.Errorf("ParsePhase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Plan", "APPLY", "destroy", "plan ", "run"} {
		if got, err := ParsePhase(in); err == nil || got != "" {
			t.Errorf("ParsePhase(%q) = %q, %v; want an error", in, got, err)
		}
	}
	if err := Phase("destroy").Check(); err == nil || err.Error() != `run phase "destroy" is not plan or apply` {
		t.Errorf("Check = %v", err)
	}
	if !Plan.Valid() || !Apply.Valid() || Phase("").Valid() {
		t.Error("Valid is wrong")
	}
}

// TestPhaseOnTheWire: a job's phase travels as the plain strings it always
// has, and a phase the agent does not know still reaches it (the agent
// refuses it when it prepares the credentials, and reports that to the run).
func TestPhaseOnTheWire(t *testing.T) {
	b, err := json.Marshal(Job{Phase: Apply})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["phase"] != "apply" {
		t.Fatalf("phase on the wire = %v (%v)", raw["phase"], err)
	}
	var j Job
	if err := json.Unmarshal([]byte(`{"phase":"destroy"}`), &j); err != nil || j.Phase != "destroy" {
		t.Fatalf("unknown phase: %q, %v", j.Phase, err)
	}
}
