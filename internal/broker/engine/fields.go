package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/fail"
)

// Fields reads typed values out of a request's Data the way Vault's field
// framework does: numbers may arrive as JSON numbers or strings, durations
// as seconds or Go/Vault duration strings ("1h", "90s", "2d" is not allowed),
// lists as arrays or comma-separated strings. A value of the wrong type is a
// fail.Invalid naming the field; a missing value is the zero value with
// ok=false.
type Fields map[string]any

// Has reports whether name was given.
func (f Fields) Has(name string) bool { _, ok := f[name]; return ok }

// String returns a string field.
func (f Fields) String(name string) (string, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return "", false, nil
	}
	switch x := v.(type) {
	case string:
		return x, true, nil
	case json.Number:
		return x.String(), true, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	}
	return "", false, bad(name, "a string")
}

// Bool returns a bool field ("true"/"false"/"1"/"0" strings accepted).
func (f Fields) Bool(name string) (bool, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return false, false, nil
	}
	switch x := v.(type) {
	case bool:
		return x, true, nil
	case string:
		b, err := strconv.ParseBool(x)
		if err != nil {
			return false, false, bad(name, "a boolean")
		}
		return b, true, nil
	case json.Number:
		i, err := x.Int64()
		if err != nil || (i != 0 && i != 1) {
			return false, false, bad(name, "a boolean")
		}
		return i == 1, true, nil
	case float64:
		if x != 0 && x != 1 {
			return false, false, bad(name, "a boolean")
		}
		return x == 1, true, nil
	}
	return false, false, bad(name, "a boolean")
}

// Int returns an integer field.
func (f Fields) Int(name string) (int, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
			return 0, false, bad(name, "an integer")
		}
		return int(x), true, nil
	default:
		return 0, false, bad(name, "an integer")
	}
	i, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false, bad(name, "an integer")
	}
	return int(i), true, nil
}

// maxDuration bounds any duration field (100 years) so arithmetic on it
// cannot overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

// Duration returns a duration field: an integer number of seconds (number or
// string) or a duration string with units s, m, h (and ms/us/ns).
func (f Fields) Duration(name string) (time.Duration, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	d, err := ParseDuration(v)
	if err != nil {
		return 0, false, bad(name, "a duration (seconds, or a string like \"30m\" or \"1h\")")
	}
	return d, true, nil
}

// ParseDuration parses a Vault duration value: seconds as a number or
// numeric string, or a Go duration string. Negative values are refused,
// except -1 which some fields use to mean "disabled" (returned as -1s).
func ParseDuration(v any) (time.Duration, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("not a duration")
	}
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok { // Vault accepts "7d"
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > int64(maxDuration/(24*time.Hour)) {
			return 0, fmt.Errorf("bad duration")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < -1 || n > int64(maxDuration/time.Second) {
			return 0, fmt.Errorf("out of range")
		}
		d = time.Duration(n) * time.Second
	} else {
		pd, err := time.ParseDuration(s)
		if err != nil {
			return 0, err
		}
		d = pd
	}
	if d < -time.Second || d > maxDuration || (d < 0 && d != -time.Second) {
		return 0, fmt.Errorf("out of range")
	}
	return d, nil
}

// Strings returns a list field: a JSON array of strings, or one string
// split on commas (Vault's TypeCommaStringSlice). Items are trimmed and
// empty items dropped.
func (f Fields) Strings(name string) ([]string, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	var raw []string
	switch x := v.(type) {
	case string:
		raw = strings.Split(x, ",")
	case []string:
		raw = x
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				if n, isNum := e.(json.Number); isNum {
					s = n.String()
				} else {
					return nil, false, bad(name, "a list of strings")
				}
			}
			raw = append(raw, s)
		}
	default:
		return nil, false, bad(name, "a list of strings")
	}
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, true, nil
}

// StringMap returns a map of strings: a JSON object whose values are
// strings, or a list/comma string of "k=v" pairs (Vault's TypeKVPairs).
func (f Fields) StringMap(name string) (map[string]string, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false, bad(name, "a map of strings")
			}
			out[k] = s
		}
		return out, true, nil
	case map[string]string:
		for k, e := range x {
			out[k] = e
		}
		return out, true, nil
	}
	pairs, _, err := f.Strings(name)
	if err != nil {
		return nil, false, bad(name, "a map of strings or a list of key=value pairs")
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, false, bad(name, "a map of strings or a list of key=value pairs")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, true, nil
}

// Map returns an object field as is.
func (f Fields) Map(name string) (map[string]any, bool, error) {
	v, ok := f[name]
	if !ok || v == nil {
		return nil, false, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, false, bad(name, "an object")
	}
	return m, true, nil
}

// Unknown returns the names in f not in known, sorted; engines turn them
// into warnings as Vault does.
func (f Fields) Unknown(known ...string) []string {
	var out []string
	for k := range f {
		found := false
		for _, n := range known {
			if n == k {
				found = true
				break
			}
		}
		if !found {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func bad(name, want string) error {
	return fail.Invalidf("error converting input for field %q: expected %s", name, want)
}
