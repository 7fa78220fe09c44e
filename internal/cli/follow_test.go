package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// go-tfe's log reader can end after the phase ended but before the log's
// last chunk (it asks whether the phase is over every tenth empty poll):
// streamLog reads the now complete log again and writes what was missed,
// and nothing twice.
func TestStreamLogWritesWhatTheReaderMissed(t *testing.T) {
	full := "plan part one\nPlan: 1 to add, 0 to change, 0 to destroy.\n"
	for _, c := range []struct{ name, first string }{
		{"last chunk missed", "plan part one\n"},
		{"nothing read", ""},
		{"nothing missed", full},
	} {
		t.Run(c.name, func(t *testing.T) {
			reads := 0
			logs := func(context.Context, string) (io.Reader, error) {
				reads++
				if reads == 1 {
					return strings.NewReader(c.first), nil
				}
				return strings.NewReader(full), nil
			}
			var out bytes.Buffer
			if err := streamLog(context.Background(), &out, logs, "plan-x", "plan"); err != nil {
				t.Fatal(err)
			}
			if out.String() != full {
				t.Fatalf("log written = %q, want %q", out.String(), full)
			}
		})
	}
}
