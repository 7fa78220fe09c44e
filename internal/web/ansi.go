package web

import (
	"html/template"
	"strconv"
	"strings"
)

// renderANSI turns a log (already redacted by the agent) into HTML: text
// escaped, SGR colour and weight codes as spans with classes (the
// stylesheet gives the colours), every other escape sequence and control
// character dropped. Each call starts uncoloured, so chunks render alone.
func renderANSI(s string) template.HTML {
	var b strings.Builder
	var fg string
	bold, underline, open := false, false, false
	closeSpan := func() {
		if open {
			b.WriteString("</span>")
			open = false
		}
	}
	openSpan := func() {
		var cls []string
		if bold {
			cls = append(cls, "b")
		}
		if underline {
			cls = append(cls, "u")
		}
		if fg != "" {
			cls = append(cls, fg)
		}
		if len(cls) > 0 {
			b.WriteString(`<span class="` + strings.Join(cls, " ") + `">`)
			open = true
		}
	}
	text := 0 // start of the plain text not yet written
	flush := func(end int) {
		b.WriteString(template.HTMLEscapeString(strings.ToValidUTF8(s[text:end], "\uFFFD")))
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			flush(i)
			n, params, final := escape(s[i:])
			i += n
			text = i
			if final != 'm' {
				continue
			}
			closeSpan()
			for _, p := range params {
				switch {
				case p == 0:
					fg, bold, underline = "", false, false
				case p == 1:
					bold = true
				case p == 4:
					underline = true
				case p == 22:
					bold = false
				case p == 24:
					underline = false
				case p == 39:
					fg = ""
				case p >= 30 && p <= 37:
					fg = "c" + strconv.Itoa(p-30)
				case p >= 90 && p <= 97:
					fg = "c" + strconv.Itoa(p-90+8)
				}
			}
			openSpan()
		case (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f:
			// other control characters (\r, STX, ETX, bells) are dropped
			flush(i)
			i++
			text = i
		default:
			i++
		}
	}
	flush(len(s))
	closeSpan()
	return template.HTML(b.String())
}

// escape measures the escape sequence at the start of s (which starts
// with ESC) and returns a CSI sequence's numeric parameters and final byte
// (0 for anything that is not a complete CSI sequence).
func escape(s string) (n int, params []int, final byte) {
	if len(s) < 2 || s[1] != '[' {
		return min(len(s), 2), nil, 0
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c >= 0x40 && c <= 0x7e {
			if c == 'm' {
				params = sgrParams(s[2:i])
			}
			return i + 1, params, c
		}
		if c < 0x20 || c > 0x3f {
			return i, nil, 0 // not a CSI parameter byte: the sequence is broken here
		}
	}
	return len(s), nil, 0
}

func sgrParams(s string) []int {
	if s == "" {
		return []int{0}
	}
	var out []int
	for _, f := range strings.Split(s, ";") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 255 {
			n = -1
		}
		if f == "" {
			n = 0
		}
		out = append(out, n)
	}
	return out
}
