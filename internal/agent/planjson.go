package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/runcred/runcred/internal/agent/phase"
	"github.com/runcred/runcred/internal/jobapi"
)

// planCounts reads what a plan would change from its JSON form. Imports,
// moves and forgets change the state without changing a resource, and are
// changes too: a plan of only those must be applied.
func planCounts(b []byte) (jobapi.Finish, error) {
	var p struct {
		ResourceChanges []struct {
			PreviousAddress string `json:"previous_address"`
			Address         string `json:"address"`
			Change          struct {
				Actions   []string        `json:"actions"`
				Importing json.RawMessage `json:"importing"`
			} `json:"change"`
		} `json:"resource_changes"`
		OutputChanges map[string]struct {
			Actions []string `json:"actions"`
		} `json:"output_changes"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return jobapi.Finish{}, fmt.Errorf("reading the JSON plan: %w", err)
	}
	var f jobapi.Finish
	for _, rc := range p.ResourceChanges {
		for _, a := range rc.Change.Actions {
			switch a {
			case "create":
				f.Additions++
			case "update":
				f.Changes++
			case "delete":
				f.Destructions++
			case "forget":
				f.HasChanges = true
			}
		}
		if len(rc.Change.Importing) > 0 && string(rc.Change.Importing) != "null" ||
			rc.PreviousAddress != "" && rc.PreviousAddress != rc.Address {
			f.HasChanges = true
		}
	}
	f.HasChanges = f.HasChanges || f.Additions+f.Changes+f.Destructions > 0
	for _, oc := range p.OutputChanges {
		for _, a := range oc.Actions {
			if a != "no-op" {
				f.HasChanges = true
			}
		}
	}
	return f, nil
}

// drifted reports whether a plan's refresh found a resource changed
// outside OpenTofu: in a refresh-only plan, that is what applying it
// writes to the state.
func drifted(b []byte) (bool, error) {
	var p struct {
		ResourceDrift []struct {
			Change struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_drift"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return false, fmt.Errorf("reading the JSON plan: %w", err)
	}
	for _, d := range p.ResourceDrift {
		for _, a := range d.Change.Actions {
			if a != "no-op" {
				return true, nil
			}
		}
	}
	return false, nil
}

// scrubPlanJSON replaces every secret the phase handled, wherever it
// appears in a string, an object key or a number of the JSON plan, with the
// redactor's mask. Terraform writes sensitive variables' values into `show
// -json` output in the clear; the plan kept for policy checks must not hold
// them. A number holding a secret becomes the mask as a string; keys that
// collide once masked are numbered. Other numbers are kept as written.
func scrubPlanJSON(b []byte, red *phase.Redactor) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("reading the JSON plan: %w", err)
	}
	// What follows the plan would be dropped unscrubbed, and planCounts
	// refuses it: so does the scrub.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("reading the JSON plan: data after the plan")
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			return red.RedactString(t)
		case json.Number:
			if s := red.RedactString(string(t)); s != string(t) {
				return s
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			out := make(map[string]any, len(t))
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys) // collisions are numbered the same way every time
			for _, k := range keys {
				masked := red.RedactString(k)
				nk := masked
				for i := 2; nk != k; i++ {
					if _, taken := out[nk]; !taken {
						if _, orig := t[nk]; !orig {
							break
						}
					}
					// The number can complete a secret (a secret "-2"):
					// the numbered name is redacted too.
					nk = red.RedactString(masked + "-" + strconv.Itoa(i))
				}
				out[nk] = walk(t[k])
			}
			return out
		}
		return v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(walk(v)); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}
