package policy

import (
	"fmt"
	"io"
	"strings"
)

// Write prints the outcome for a run's log and `run show`: the overall
// status, then each set and each policy, with violations and errors, one
// per line. Messages are the policies' own; the input is never printed.
func (o Outcome) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "OPA policy check: %s\n", o.Status())
	for _, s := range o.Sets {
		over := ""
		if s.Overridable {
			over = ", overridable"
		}
		fmt.Fprintf(&b, "  policy set %s (version %s%s)\n", s.SetID, s.Version, over)
		for _, r := range s.Policies {
			switch {
			case r.Status == Passed:
				fmt.Fprintf(&b, "    passed   %s (%s)\n", r.Name, r.Level)
			case r.Status == Errored:
				fmt.Fprintf(&b, "    errored  %s (%s; an error blocks the run and no override covers it)\n", r.Name, r.Level)
				fmt.Fprintf(&b, "             %s\n", oneLine(r.Error))
			default:
				note := "blocks the run; no override covers it"
				switch {
				case r.Level == Advisory:
					note = "the run goes on"
				case s.overridable(r):
					note = "blocks the run unless overridden"
				}
				fmt.Fprintf(&b, "    failed   %s (%s; %s)\n", r.Name, r.Level, note)
				for _, v := range r.Violations {
					fmt.Fprintf(&b, "             - %s\n", oneLine(v.Message))
				}
				if r.Omitted > 0 {
					fmt.Fprintf(&b, "             … and %d more\n", r.Omitted)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps a message on its line, so a policy cannot forge log lines.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(strings.ToValidUTF8(s, "?"))
}
