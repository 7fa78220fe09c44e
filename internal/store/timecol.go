package store

import "time"

// Every time column holds unix nanoseconds (UTC) in an INTEGER (SQLite) or
// BIGINT (PostgreSQL); a nullable one holds NULL for "never". These are the
// conversions; SQL that compares times passes Nanos(now) as its argument.

// Nanos is t as a time column stores it.
func Nanos(t time.Time) int64 { return t.UnixNano() }

// Time is the time a time column holds.
func Time(n int64) time.Time { return time.Unix(0, n).UTC() }

// Stored is t as a time column reads it back: UTC, without a monotonic
// reading, so a value handed out before the round trip equals one read after.
func Stored(t time.Time) time.Time { return Time(Nanos(t)) }

// NullNanos is t as a nullable time column stores it: NULL for the zero time.
func NullNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return Nanos(t)
}

// NullTime is the time a nullable time column holds, scanned into an *int64:
// the zero time for NULL.
func NullTime(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return Time(*n)
}
