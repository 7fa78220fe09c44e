package store

import "strings"

// In returns the condition that col is one of values, and its arguments:
// `col IN (?, ?, …)`. With no values it is a condition that holds for no
// row. Callers bound the list (a page, a filter's cap): each value is one
// parameter.
func In(col string, values []string) (string, []any) {
	if len(values) == 0 {
		return "1 = 0", nil
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return col + " IN (?" + strings.Repeat(", ?", len(values)-1) + ")", args
}
