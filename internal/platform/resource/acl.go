package resource

import (
	"slices"
	"strings"
)

// Rule is one path rule of a broker ACL policy the platform compiles (a
// team's, a run token's).
type Rule struct {
	Path string
	Caps []string
}

// PolicyBody renders rules as a broker ACL policy, header as its first
// comment line. Rules of the same path are folded into one, in first-seen
// order; a deny stays a deny.
func PolicyBody(header string, rules []Rule) string {
	var b strings.Builder
	b.WriteString("# " + header + "\n")
	for _, r := range merged(rules) {
		b.WriteString(`path "` + r.Path + `" { capabilities = [`)
		for i, c := range r.Caps {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`"` + c + `"`)
		}
		b.WriteString("] }\n")
	}
	return b.String()
}

func merged(rules []Rule) []Rule {
	at := map[string]int{}
	var out []Rule
	for _, r := range rules {
		i, ok := at[r.Path]
		if !ok {
			at[r.Path] = len(out)
			out = append(out, Rule{r.Path, slices.Clone(r.Caps)})
			continue
		}
		if slices.Contains(out[i].Caps, "deny") || slices.Contains(r.Caps, "deny") {
			out[i].Caps = []string{"deny"}
			continue
		}
		for _, c := range r.Caps {
			if !slices.Contains(out[i].Caps, c) {
				out[i].Caps = append(out[i].Caps, c)
			}
		}
	}
	return out
}
