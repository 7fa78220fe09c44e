// Package secret holds the type runcred uses for every secret value in memory,
// so that printing, logging or marshalling one by accident shows nothing.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Value is a secret. Its zero value is the empty secret. Only Reveal returns the
// plain bytes; every formatting path prints "[redacted]".
type Value struct{ b []byte }

// New wraps b (the slice is copied).
func New(b []byte) Value { return Value{b: append([]byte(nil), b...)} }

// FromString wraps s.
func FromString(s string) Value { return Value{b: []byte(s)} }

// Reveal returns the secret's bytes. Call it only where the value must leave
// the process (sent to its owner, sealed, signed with).
func (v Value) Reveal() []byte { return v.b }

// RevealString returns the secret as a string.
func (v Value) RevealString() string { return string(v.b) }

// Empty reports whether the secret has no bytes.
func (v Value) Empty() bool { return len(v.b) == 0 }

// Equal compares in constant time (for equal lengths).
func (v Value) Equal(o Value) bool { return subtle.ConstantTimeCompare(v.b, o.b) == 1 }

func (Value) String() string               { return redacted }
func (Value) GoString() string             { return redacted }
func (Value) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format covers every fmt verb, including %d and %#v, which would otherwise
// print the struct's fields.
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }
