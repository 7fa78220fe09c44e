package jwt

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzLogin feeds arbitrary jwt values to a configured login. No input may
// panic, and none may log in: the trusted keys never sign anything the
// fuzzer can reach except an expired token, which stays expired whatever
// is done to it without breaking its signature. No error may echo the
// token's header (a kid, an alg, a crit name) beyond a clipped excerpt.
func FuzzLogin(f *testing.F) {
	e := bareEnv(f)
	e.write(f, "config", map[string]any{"jwt_validation_pubkeys": []any{pemPublic(f, rsaKey.Public()), pemPublic(f, ecKey.Public())}})
	e.write(f, "role/ci", ciRole())

	c := e.claims()
	expired := e.claimsAt(start.Add(-time.Hour))
	f.Add(otherSigner.sign(f, c))
	f.Add(rsaSigner.sign(f, expired))
	f.Add(ecSigner.sign(f, expired))
	f.Add(noneToken(f, c))
	f.Add(hmacToken(f, []byte(pemPublic(f, rsaKey.Public())), "rsa-1", c))
	f.Add(signKey{alg: jose.PS256, priv: otherKey}.sign(f, c))
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.e30")
	f.Add(`{"payload":"e30","protected":"e30","signature":""}`)
	critSigned := func(crit any) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rsaKey},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "rsa-1").WithHeader("crit", crit))
		if err != nil {
			f.Fatal(err)
		}
		return signWith(f, s, expired)
	}
	f.Add(critSigned([]string{}))
	f.Add(critSigned([]string{"b64"}))
	f.Add(critSigned(nil))
	f.Add(signKey{kid: strings.Repeat("k", 300), alg: jose.RS256, priv: otherKey}.sign(f, c))

	f.Fuzz(func(t *testing.T, token string) {
		auth, err := e.login(t, token) // e.login also fails on an error with a response
		if err == nil {
			t.Fatalf("token %q logged in: %+v", token, auth)
		}
		if len(err.Error()) > maxLoginErr {
			t.Fatalf("a %d-byte message for a %d-byte token: %.200s", len(err.Error()), len(token), err)
		}
	})
}

// maxLoginErr bounds a login error's message: a few fixed sentences and at
// most one clipped excerpt of the caller's input.
const maxLoginErr = 400

// FuzzParseClaims feeds arbitrary payloads and JSON pointers to the claim
// parser and every check that reads claims.
func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"i","sub":"s","aud":["a"],"exp":1,"nbf":0,"iat":0,"ref":["x","y"]}`), "ref")
	f.Add([]byte(`{"a":{"b":[1,{"c":"d"}]}}`), "/a/b/1/c")
	f.Add([]byte(`{"exp":1e300}`), "/")
	f.Add([]byte(`{"aud":""}`), "aud")
	f.Add([]byte(`[]`), "~1~0")
	f.Fuzz(func(t *testing.T, payload []byte, ptr string) {
		c, err := parseClaims(payload)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		if !json.Valid(payload) {
			t.Fatalf("accepted invalid JSON %q", payload)
		}
		if c.audPresent && len(c.aud) == 0 {
			t.Fatal("aud present but empty")
		}
		r := &role{UserClaim: ptr, UserClaimJSONPointer: true, ClaimMappings: map[string]string{ptr: "m"}}
		_ = checkTimes(c, r, start)
		_, _ = userName(r, c.all)
		_, _ = metadata(r, "ci", c.all)
		_ = checkBoundClaims(boundClaimsGlob, map[string]any{ptr: "*"}, c.all)
		_ = checkBoundClaims(boundClaimsString, map[string]any{"/" + ptr: []any{"x", true, json.Number("1")}}, c.all)
	})
}

// FuzzGlob checks glob against a regular expression built from the same
// pattern.
func FuzzGlob(f *testing.F) {
	f.Add("repo:org/app*", "repo:org/app-evil:x")
	f.Add("a*b*c", "abcabc")
	f.Add("*", "")
	f.Add("a*a", "a")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return // regexp reads bad bytes as U+FFFD; glob compares bytes
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if got, want := glob(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("glob(%q, %q) = %v; regexp says %v", pattern, s, got, want)
		}
	})
}

// FuzzCheckHeader feeds arbitrary protected headers to the JOSE header
// check: it never panics, never passes a header that carries "crit", and
// its message quotes at most a clipped excerpt of the header.
func FuzzCheckHeader(f *testing.F) {
	f.Add(`{"alg":"RS256","kid":"k"}`)
	f.Add(`{"alg":"RS256","crit":[]}`)
	f.Add(`{"alg":"RS256","crit":null}`)
	f.Add(`{"alg":"RS256","crit":["b64"],"b64":false}`)
	f.Add(`{"alg":"RS256","crit":"exp"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, header string) {
		token := base64.RawURLEncoding.EncodeToString([]byte(header)) + ".e30.c2ln"
		_, err := checkHeader(token)
		if err == nil {
			var h map[string]json.RawMessage
			if json.Unmarshal([]byte(header), &h) != nil {
				t.Fatalf("header %q is not a JSON object but passed", header)
			}
			if _, crit := h["crit"]; crit {
				t.Fatalf("header %q carries crit but passed", header)
			}
			return
		}
		if len(err.Error()) > maxLoginErr {
			t.Fatalf("a %d-byte message: %.200s", len(err.Error()), err)
		}
	})
}
