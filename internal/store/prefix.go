package store

import (
	"unicode"
	"unicode/utf8"
)

// Prefix returns a condition on col that holds for the values starting with
// prefix, and its arguments. It is a range on the column's order,
// `col >= ? AND col < ?`, which a plain index on col answers on both
// dialects; substr() reads every row, and LIKE uses an index only under the
// right collation and escaping. The column must order by code point: SQLite's
// default BINARY collation does, and on PostgreSQL such a column is declared
// COLLATE "C". Stored text is valid UTF-8 (PostgreSQL insists), so a prefix
// that is not matches nothing.
func Prefix(col, prefix string) (string, []any) {
	if !utf8.ValidString(prefix) {
		return "1 = 0", nil
	}
	if hi, ok := prefixEnd(prefix); ok {
		return col + " >= ? AND " + col + " < ?", []any{prefix, hi}
	}
	return col + " >= ?", []any{prefix}
}

// prefixEnd is the least string above every string starting with prefix,
// in code point order (which is UTF-8's byte order): prefix with its last
// rune that can grow grown by one and what follows it cut. A prefix of only
// U+10FFFF runes has no such bound.
func prefixEnd(prefix string) (string, bool) {
	for end := len(prefix); end > 0; {
		r, size := utf8.DecodeLastRuneInString(prefix[:end])
		end -= size
		if r == unicode.MaxRune {
			continue
		}
		r++
		if r == 0xD800 { // surrogates are not runes UTF-8 can hold
			r = 0xE000
		}
		return prefix[:end] + string(r), true
	}
	return "", false
}
