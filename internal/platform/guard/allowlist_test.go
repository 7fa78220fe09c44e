package guard

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/fail"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, value string
		want           bool
	}{
		{"arn:aws:iam::123456789012:role/tf-*", "arn:aws:iam::123456789012:role/tf-plan", true},
		{"arn:aws:iam::123456789012:role/tf-*", "arn:aws:iam::123456789012:role/tf-", true},
		{"arn:aws:iam::123456789012:role/tf-*", "arn:aws:iam::123456789012:role/other", false},
		{"arn:aws:iam::123456789012:role/tf-*", "arn:aws:iam::999999999999:role/tf-plan", false},
		{"arn:aws:iam::*:role/tf", "arn:aws:iam::1:x:role/tf", true}, // '*' crosses ':' as in IAM
		{"arn:aws:iam::12345678901?:role/x", "arn:aws:iam::123456789012:role/x", true},
		{"arn:aws:iam::12345678901?:role/x", "arn:aws:iam::12345678901:role/x", false},
		{"exact.audience", "exact.audience", true},
		{"exact.audience", "exact.audience.example", false},
		{"exact.audience", "Exact.audience", false}, // case-sensitive
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"**", "anything", true},
		{"*.example", "evil.example.attacker", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.value); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.value, got, c.want)
		}
	}
}

func TestNormalizeAddress(t *testing.T) {
	good := map[string]string{
		"https://Vault.Example:443/":    "https://vault.example",
		"http://127.0.0.1:8200":         "http://127.0.0.1:8200",
		"http://127.0.0.1:80":           "http://127.0.0.1",
		"https://vault.example/prefix/": "https://vault.example/prefix",
		"HTTPS://vault.example:8200":    "https://vault.example:8200",
		"http://[::1]:8200":             "http://[::1]:8200",
	}
	for in, want := range good {
		got, err := NormalizeAddress(in)
		if err != nil || got != want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "vault.example", "ftp://vault.example", "https://user@vault.example", "https://vault.example?x=1",
		"https://vault.example#f", "https://", "https://:", "mailto:a@b"} {
		if got, err := NormalizeAddress(bad); err == nil {
			t.Errorf("NormalizeAddress(%q) = %q, want an error", bad, got)
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", MaxEntryLen+1)
	many := make([]string, MaxEntries+1)
	for i := range many {
		many[i] = "x"
	}
	cases := []struct {
		name string
		a    Allowlist
		want string
	}{
		{"empty entry", Allowlist{Audiences: []string{"ok", ""}}, "audiences[1]"},
		{"long entry", Allowlist{VaultRoles: []string{long}}, "vault-roles[0]"},
		{"space", Allowlist{AWSRoleARNs: []string{"arn:aws:iam::1:role/a b"}}, "aws-role-arns[0]"},
		{"control", Allowlist{VaultAuthPaths: []string{"jwt\n"}}, "vault-auth-paths[0]"},
		{"not an address", Allowlist{VaultAddresses: []string{"https://ok.example", "vault.example:8200"}}, "vault-addresses[1]"},
		{"too many", Allowlist{Audiences: many}, "audiences: at most"},
	}
	for _, c := range cases {
		err := c.a.Validate()
		if !fail.Is(err, fail.Invalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid error naming %q", c.name, err, c.want)
		}
	}
	a := Allowlist{VaultAddresses: []string{"HTTPS://Vault.Example:443/"}, Audiences: []string{"aud"}}
	if err := a.Validate(); err != nil || a.VaultAddresses[0] != "https://vault.example" {
		t.Errorf("valid list: %v, %q", err, a.VaultAddresses)
	}
}

// globRegexp is Match's meaning spelled as a regular expression.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// FuzzMatch holds Match to the regular expression of its pattern (on
// ASCII, where a byte is a character).
func FuzzMatch(f *testing.F) {
	f.Add("arn:aws:iam::*:role/tf-?", "arn:aws:iam::1:role/tf-a")
	f.Add("a*b*c", "aXbYbZc")
	f.Add("*", "")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		got := Match(pattern, value)
		if !isASCII(pattern) || !isASCII(value) {
			return
		}
		if want := globRegexp(pattern).MatchString(value); got != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", pattern, value, got, want)
		}
	})
}

// FuzzNormalizeAddress: never panics; what it accepts is a fixed point and
// has no user, query or fragment.
func FuzzNormalizeAddress(f *testing.F) {
	f.Add("https://Vault.Example:443/")
	f.Add("http://[::1]:8200/x/")
	f.Fuzz(func(t *testing.T, addr string) {
		n, err := NormalizeAddress(addr)
		if err != nil {
			return
		}
		again, err := NormalizeAddress(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeAddress(%q) = %q, which normalizes to %q, %v", addr, n, again, err)
		}
		if u, err := url.Parse(n); err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Hostname() == "" {
			t.Fatalf("NormalizeAddress(%q) = %q: %+v, %v", addr, n, u, err)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
