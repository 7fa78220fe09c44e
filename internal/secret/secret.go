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
// plain bytes; every formatting path prints "[redacted]". The bytes live
// inside a closure because fmt does not call methods on values in unexported
// struct fields: there it prints the raw field, and a func prints only as an
// address, whatever the verb.
type Value struct{ get func() []byte }

// New wraps b (the slice is copied).
func New(b []byte) Value {
	c := append([]byte(nil), b...)
	return Value{get: func() []byte { return c }}
}

// FromString wraps s.
func FromString(s string) Value { return New([]byte(s)) }

// Reveal returns the secret's bytes. Call it only where the value must leave
// the process (sent to its owner, sealed, signed with).
func (v Value) Reveal() []byte {
	if v.get == nil {
		return nil
	}
	return v.get()
}

// RevealString returns the secret as a string.
func (v Value) RevealString() string { return string(v.Reveal()) }

// Empty reports whether the secret has no bytes.
func (v Value) Empty() bool { return len(v.Reveal()) == 0 }

// Equal compares in constant time (for equal lengths).
func (v Value) Equal(o Value) bool { return subtle.ConstantTimeCompare(v.Reveal(), o.Reveal()) == 1 }

func (Value) String() string               { return redacted }
func (Value) GoString() string             { return redacted }
func (Value) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format covers every fmt verb, including %d and %#v, which would otherwise
// print the struct's fields.
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }
