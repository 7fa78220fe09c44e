package phase

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/secret"
)

func TestRedact(t *testing.T) {
	const s = "s3cr3t/value+x" // 14 bytes: encoded forms are masked too
	b64 := base64.StdEncoding.EncodeToString([]byte(s))
	tests := []struct {
		secrets []string
		in      string
		want    string
	}{
		{[]string{s}, "no secrets here", "no secrets here"},
		{[]string{s}, "key=" + s, "key=***"},
		{[]string{s}, s + s + " " + s, "*** ***"},
		{[]string{s}, "b64:" + b64, "b64:***" + b64[len(b64)-2:]},                                    // only the secret-determined characters
		{[]string{s}, "embedded xx" + base64.StdEncoding.EncodeToString([]byte("abc"+s+"tail")), ""}, // see below
		{[]string{s}, "url:" + url.QueryEscape(s), "url:***"},
		{[]string{s}, "path:" + url.PathEscape(s), "path:***"},
		{[]string{`a"b<c>long1`}, `json:a\"b\u003cc\u003elong1 raw:a\"b<c>long1`, `json:*** raw:***`},
		{[]string{"short"}, "short " + base64.StdEncoding.EncodeToString([]byte("short")), "*** c2hvcnQ="},
		{[]string{"abcd", "cdef"}, "xabcdefx", "x***x"}, // overlapping secrets: one run
		{[]string{"aa"}, "aaa", "***"},
		{[]string{"-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----"}, "line MIIBOgIBAAJBAK", "line ***"},
		{[]string{"*"}, "a * b", ""}, // the mask would show the secret: line withheld
		{nil, "anything", "anything"},
	}
	for _, tt := range tests {
		var vs []secret.Value
		for _, s := range tt.secrets {
			vs = append(vs, secret.FromString(s))
		}
		r := NewRedactor(vs...)
		got := string(r.Redact([]byte(tt.in)))
		if tt.want == "" && strings.HasPrefix(tt.in, "embedded") {
			// "abc" puts the secret on a base64 boundary; it must be gone.
			if strings.Contains(got, base64.RawStdEncoding.EncodeToString([]byte(s))[:len(s)*8/6]) {
				t.Errorf("embedded base64 not masked: %q", got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("Redact(%q) with %q = %q, want %q", tt.in, tt.secrets, got, tt.want)
		}
	}
}

func TestLineWriterJoinsSplitWrites(t *testing.T) {
	const s = "split-secret-123"
	var out []string
	w := newLineWriter(NewRedactor(secret.FromString(s)), func(l string) { out = append(out, l) })
	in := "one " + s + "\ntwo\r\nthree " + s
	for i := range len(in) { // one byte per write
		_, _ = w.Write([]byte{in[i]})
	}
	if len(out) != 2 {
		t.Fatalf("lines before flush: %q", out)
	}
	w.Flush()
	want := []string{"one ***", "two", "three ***"}
	if strings.Join(out, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", out, want)
	}
}

func TestLineWriterTruncatesLongLines(t *testing.T) {
	const s = "0123456789abcdef"
	var out []string
	w := newLineWriter(NewRedactor(secret.FromString(s)), func(l string) { out = append(out, l) })
	w.max = 32
	// The cut falls inside the secret: no prefix of it may be shown.
	_, _ = w.Write([]byte(strings.Repeat("x", 24) + s + strings.Repeat("y", 100) + "\nnext\n"))
	if len(out) != 2 || out[1] != "next" || !strings.HasSuffix(out[0], truncated) {
		t.Fatalf("lines = %q", out)
	}
	if strings.Contains(out[0], "0123") {
		t.Errorf("prefix of the secret shown: %q", out[0])
	}
}

// TestLineWriterCutsPastMax: a line of exactly max bytes is whole, a
// longer one is cut; a flush with nothing pending emits nothing.
func TestLineWriterCutsPastMax(t *testing.T) {
	var out []string
	w := newLineWriter(NewRedactor(), func(l string) { out = append(out, l) })
	w.max = 8
	_, _ = w.Write([]byte("12345678\n123456789\n"))
	w.Flush()
	if want := []string{"12345678", "123456789" + truncated}; !slices.Equal(out, want) {
		t.Errorf("lines = %q, want %q", out, want)
	}
}

// TestLineWriterCutNeverShowsASecret: a cut line is withheld when the
// truncation notice itself would show a secret; a cut line held back by a
// secret longer than the notice still gets the notice.
func TestLineWriterCutNeverShowsASecret(t *testing.T) {
	for _, c := range []struct {
		secret, line, want string
	}{
		{"truncated", strings.Repeat("x", 20), ""},
		{"0123456789abcdef0123", "0123456789abcdef0123 and more", Mask + truncated},
	} {
		var out []string
		w := newLineWriter(NewRedactor(secret.FromString(c.secret)), func(l string) { out = append(out, l) })
		w.max = 8
		_, _ = w.Write([]byte(c.line + "\n"))
		if !slices.Equal(out, []string{c.want}) {
			t.Errorf("secret %q, line %q: lines = %q, want %q", c.secret, c.line, out, []string{c.want})
		}
	}
}

func TestRedactorAddWhileRunning(t *testing.T) {
	r := NewRedactor()
	if got := string(r.Redact([]byte("late-secret-value"))); got != "late-secret-value" {
		t.Fatalf("got %q", got)
	}
	r.Add(secret.FromString("late-secret-value"))
	if got := string(r.Redact([]byte("late-secret-value"))); got != Mask {
		t.Fatalf("got %q", got)
	}
}

// FuzzRedact: whatever the secrets, the text and how it is split into
// writes, no emitted line contains a secret, a line of a multi-line secret,
// or the base64 of a secret of 8 bytes or more.
func FuzzRedact(f *testing.F) {
	f.Add("hunter22", "", []byte("pw=hunter22\nb64=aHVudGVyMjI=\n"), uint8(3), uint8(40))
	f.Add("ab", "b\nc", []byte("abc\nxbx\n"), uint8(1), uint8(0))
	f.Add("*", "**", []byte("***\n"), uint8(2), uint8(8))
	f.Fuzz(func(t *testing.T, s1, s2 string, text []byte, chunk, maxLen uint8) {
		secrets := []string{s1, s2}
		var vs []secret.Value
		for _, s := range secrets {
			vs = append(vs, secret.FromString(s))
		}
		var out []string
		w := newLineWriter(NewRedactor(vs...), func(l string) { out = append(out, l) })
		if maxLen > 0 {
			w.max = int(maxLen)
		}
		step := int(chunk)%7 + 1
		for i := 0; i < len(text); i += step {
			_, _ = w.Write(text[i:min(i+step, len(text))])
		}
		w.Flush()
		var forbidden [][]byte
		for _, s := range secrets {
			if s == "" {
				continue
			}
			forbidden = append(forbidden, []byte(s))
			for _, l := range strings.FieldsFunc(s, func(c rune) bool { return c == '\n' || c == '\r' }) {
				if strings.TrimSpace(l) != "" {
					forbidden = append(forbidden, []byte(l))
				}
			}
			if len(s) >= encodedMin {
				forbidden = append(forbidden, []byte(base64.RawStdEncoding.EncodeToString([]byte(s))[:len(s)*8/6]))
			}
		}
		for _, line := range out {
			for _, f := range forbidden {
				if bytes.Contains([]byte(line), f) {
					t.Fatalf("line %q contains secret %q", line, f)
				}
			}
		}
	})
}
