package web

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
)

func TestRenderANSI(t *testing.T) {
	for in, want := range map[string]string{
		"plain <b>&</b>\n":                  "plain &lt;b&gt;&amp;&lt;/b&gt;\n",
		"\x1b[1m\x1b[32mPlan:\x1b[0m done":  `<span class="b">` + `</span><span class="b c2">Plan:</span> done`,
		"\x1b[31mred\x1b[39m plain":         `<span class="c1">red</span> plain`,
		"\x1b[91mbright\x1b[0m":             `<span class="c9">bright</span>`,
		"a\rb\x02c\x03\x07":                 "abc",
		"cursor\x1b[2Kgone\x1b]0;title\x07": "cursorgone0;title", // OSC: its introducer and the bell dropped
		"broken \x1b[1;":                    "broken ",
		"ünïcode ✓\n":                       "ünïcode ✓\n",
	} {
		if got := string(renderANSI(in)); got != want {
			t.Errorf("renderANSI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCursor(t *testing.T) {
	for in, want := range map[string][2]int{
		"12.34": {12, 34}, "": {0, 0}, "1": {0, 0}, "-1.2": {0, 0}, "a.b": {0, 0}, "1.2.3": {0, 0},
		strings.Repeat("9", 50) + ".1": {0, 0},
	} {
		if p, a := parseCursor(in); p != want[0] || a != want[1] {
			t.Errorf("parseCursor(%q) = %d, %d; want %v", in, p, a, want)
		}
	}
}

// FuzzRenderANSI: whatever a log holds, the HTML is valid UTF-8, every tag
// is one of the renderer's spans, and no markup from the log survives.
func FuzzRenderANSI(f *testing.F) {
	for _, s := range []string{"\x1b[1;31mx\x1b[0m", "<script>alert(1)</script>", "\x1b[", "\x1b[38;5;200mx", "a\x1bb", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(renderANSI(s))
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 from %q", s)
		}
		z := html.NewTokenizer(strings.NewReader(out))
		depth := 0
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			switch tt {
			case html.StartTagToken:
				name, _ := z.TagName()
				if string(name) != "span" {
					t.Fatalf("tag %s from %q", name, s)
				}
				depth++
			case html.EndTagToken:
				depth--
			case html.SelfClosingTagToken, html.CommentToken, html.DoctypeToken:
				t.Fatalf("markup from %q: %s", s, out)
			}
		}
		if depth != 0 {
			t.Fatalf("unbalanced spans from %q: %s", s, out)
		}
		p, a := parseCursor(s)
		if p < 0 || a < 0 {
			t.Fatalf("negative cursor from %q", s)
		}
	})
}
