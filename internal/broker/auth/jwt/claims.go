package jwt

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// claims is a verified token's payload: every claim as decoded JSON (numbers
// kept as json.Number), plus the registered claims the checks use.
type claims struct {
	all           map[string]any
	iss, sub      string
	aud           []string
	audPresent    bool             // Vault counts "aud":"" as present and "aud":[] as absent
	exp, nbf, iat *int64           // seconds since the epoch; nil when absent or null
	signer        crypto.PublicKey // the key the signature verified with
}

// maxNumericDate bounds exp/nbf/iat (about the year 36800) so time
// arithmetic on them cannot overflow.
const maxNumericDate = 1 << 40

// parseClaims decodes a JWT payload. It must be exactly one JSON object,
// and the registered claims it carries must have their registered types.
func parseClaims(payload []byte) (*claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil {
		return nil, fmt.Errorf("claims are not a JSON object: %w", err)
	}
	if all == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the claims")
	}

	c := &claims{all: all}
	var err error
	if c.iss, err = stringClaim(all, "iss", "issuer"); err != nil {
		return nil, err
	}
	if c.sub, err = stringClaim(all, "sub", "subject"); err != nil {
		return nil, err
	}
	switch v := all["aud"].(type) {
	case nil:
	case string:
		c.aud, c.audPresent = []string{v}, true
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("invalid audience (aud) claim: not a string or a list of strings")
			}
			c.aud = append(c.aud, s)
		}
		c.audPresent = len(v) > 0
	default:
		return nil, errors.New("invalid audience (aud) claim: not a string or a list of strings")
	}
	for _, d := range []struct {
		name, desc string
		dst        **int64
	}{
		{"exp", "expiration time", &c.exp},
		{"nbf", "not before", &c.nbf},
		{"iat", "issued at", &c.iat},
	} {
		if *d.dst, err = numericDate(all, d.name, d.desc); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func stringClaim(all map[string]any, name, desc string) (string, error) {
	switch v := all[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", fmt.Errorf("invalid %s (%s) claim: not a string", desc, name)
}

// numericDate reads a NumericDate the way go-jose does: any JSON number,
// fractions truncated toward zero.
func numericDate(all map[string]any, name, desc string) (*int64, error) {
	v, present := all[name]
	if !present || v == nil {
		return nil, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("invalid %s (%s) claim: not a number", desc, name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return nil, fmt.Errorf("invalid %s (%s) claim: out of range", desc, name)
	}
	i := int64(f)
	return &i, nil
}

// getClaim returns a claim by name, or by JSON pointer (RFC 6901) when the
// name starts with "/", as Vault's bound_claims and claim_mappings do. A
// string "aud" is turned into a one-element list, as Vault does. Nil means
// missing.
func getClaim(all map[string]any, name string) any {
	var v any
	if strings.HasPrefix(name, "/") {
		v = jsonPointer(all, name)
	} else {
		v = all[name]
	}
	if s, ok := v.(string); ok && name == "aud" {
		return []any{s}
	}
	return v
}

func jsonPointer(doc any, ptr string) any {
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch node := cur.(type) {
		case map[string]any:
			cur = node[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return nil
			}
			cur = node[i]
		default:
			return nil
		}
	}
	return cur
}

// checkBoundClaims applies a role's bound_claims with Vault's semantics: a
// missing claim fails; expected and actual values are both taken as lists;
// any expected value matching any actual element passes. So a claim
// ["evil","main"] satisfies {"ref":"main"}, and with glob matching
// "repo:org/app*" admits "repo:org/app-evil:x" ('*' crosses '/' and ':').
// That is Vault's behaviour, kept on purpose: roles written for Vault must
// mean the same here.
func checkBoundClaims(boundType string, bound map[string]any, all map[string]any) error {
	names := make([]string, 0, len(bound))
	for name := range bound {
		names = append(names, name)
	}
	sort.Strings(names) // the first failure named is stable

	for _, name := range names {
		actual := getClaim(all, name)
		if actual == nil {
			return fmt.Errorf("claim %q is missing", name)
		}
		actVals, ok := asList(actual)
		if !ok {
			return fmt.Errorf("received claim is not a string, bool, int or list: %v", actual)
		}
		expVals, ok := asList(bound[name])
		if !ok {
			return fmt.Errorf("bound claim is not a string, bool, int or list: %v", bound[name])
		}
		if !anyMatch(expVals, actVals, boundType == boundClaimsGlob) {
			return fmt.Errorf("claim %q does not match any associated bound claim values", name)
		}
	}
	return nil
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case string, bool, json.Number:
		return []any{x}, true
	}
	return nil, false
}

func anyMatch(expected, actual []any, useGlobs bool) bool {
	for _, e := range expected {
		for _, a := range actual {
			if useGlobs {
				es, eok := e.(string)
				as, aok := a.(string)
				if eok && aok && glob(es, as) {
					return true
				}
				continue
			}
			if sameScalar(e, a) {
				return true
			}
		}
	}
	return false
}

// sameScalar compares two claim values of the same JSON type. Unlike
// Vault, which truncates a fractional claim to an integer first (so 5.9
// matched a bound 5), numbers must be equal; anything that is not a
// string, bool or number never matches.
func sameScalar(e, a any) bool {
	switch x := e.(type) {
	case string:
		y, ok := a.(string)
		return ok && x == y
	case bool:
		y, ok := a.(bool)
		return ok && x == y
	case json.Number:
		y, ok := a.(json.Number)
		return ok && sameNumber(string(x), string(y))
	}
	return false
}

func sameNumber(x, y string) bool {
	if ix, err := strconv.ParseInt(x, 10, 64); err == nil {
		if iy, err := strconv.ParseInt(y, 10, 64); err == nil {
			return ix == iy
		}
	}
	fx, errX := strconv.ParseFloat(x, 64)
	fy, errY := strconv.ParseFloat(y, 64)
	return errX == nil && errY == nil && fx == fy
}

// glob matches s against pattern, where '*' stands for any run of
// characters, including '/' and ':' (ryanuber/go-glob, which Vault uses).
// There is no other wildcard and no escaping.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// claimString renders a claim for token metadata: strings as they are,
// numbers and booleans as their JSON text. Vault accepts only strings; a
// number here is harmless and CI providers emit some (run attempts).
func claimString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
