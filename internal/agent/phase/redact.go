package phase

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sync"

	"github.com/runcred/runcred/internal/secret"
)

// Mask replaces every secret in a log line.
const Mask = "***"

// encodedMin is the shortest secret whose encoded forms are also masked:
// the encodings of very short strings are common substrings of ordinary
// output and masking them would shred the log without protecting much.
const encodedMin = 8

// Redactor masks known secrets in whole log lines. It is safe for
// concurrent use; secrets may be added while a phase runs (a pre hook can
// export credentials through $TFC_AGENT_ENV).
type Redactor struct {
	mu   sync.RWMutex
	pats [][]byte
	seen map[string]bool
	max  int // length of the longest pattern
}

// NewRedactor returns a redactor that knows secrets.
func NewRedactor(secrets ...secret.Value) *Redactor {
	r := &Redactor{seen: map[string]bool{}}
	for _, s := range secrets {
		r.Add(s)
	}
	return r
}

// Add registers a secret: its raw bytes and, from encodedMin bytes on, its
// base64 (standard and URL alphabets), URL-escaped and JSON-escaped forms.
// A secret spanning several lines can never be seen whole by a line
// redactor, so each of its non-blank lines is registered as well.
func (r *Redactor) Add(v secret.Value) {
	raw := v.Reveal()
	if len(raw) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(raw)
	if bytes.ContainsAny(raw, "\r\n") {
		for _, l := range bytes.FieldsFunc(raw, func(c rune) bool { return c == '\n' || c == '\r' }) {
			if len(bytes.TrimSpace(l)) > 0 {
				r.add(l)
			}
		}
	}
	if len(raw) < encodedMin {
		return
	}
	// Only the base64 characters fixed by the secret alone: the last partial
	// character also depends on whatever bytes follow it in a longer message.
	whole := len(raw) * 8 / 6
	r.add([]byte(base64.RawStdEncoding.EncodeToString(raw)[:whole]))
	r.add([]byte(base64.RawURLEncoding.EncodeToString(raw)[:whole]))
	r.add([]byte(url.QueryEscape(string(raw))))
	r.add([]byte(url.PathEscape(string(raw))))
	if j, err := json.Marshal(string(raw)); err == nil {
		r.add(j[1 : len(j)-1])
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(string(raw)) == nil {
		j := bytes.TrimSpace(b.Bytes())
		r.add(j[1 : len(j)-1])
	}
}

func (r *Redactor) add(p []byte) {
	if len(p) == 0 || r.seen[string(p)] {
		return
	}
	r.seen[string(p)] = true
	r.pats = append(r.pats, append([]byte(nil), p...))
	r.max = max(r.max, len(p))
}

// Redact returns line with every byte that belongs to an occurrence of a
// known secret replaced, each maximal run of such bytes by one Mask.
func (r *Redactor) Redact(line []byte) []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.redact(line, len(line), "")
}

// redactCut redacts a line that was cut because it grew too long and
// appends the truncation notice. Its last max-1 bytes may be the start of a
// secret that continues past the cut, so they are never shown.
// RedactString is Redact for a string, such as an error message.
func (r *Redactor) RedactString(s string) string { return string(r.Redact([]byte(s))) }

func (r *Redactor) redactCut(line []byte) []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.redact(line, len(line)-max(r.max-1, 0), truncated)
}

// redact marks every occurrence (overlaps included) of every pattern in
// line, then emits the unmarked bytes before limit with each marked run
// turned into Mask, then suffix. Because masks separate all surviving runs,
// the result can only contain a secret through the mask or the suffix (a
// secret like "*" or "truncated"); that is checked, and such a line is
// withheld entirely.
func (r *Redactor) redact(line []byte, limit int, suffix string) []byte {
	limit = max(limit, 0)
	var marked []bool
	for _, p := range r.pats {
		for from := 0; from+len(p) <= len(line); {
			i := bytes.Index(line[from:], p)
			if i < 0 {
				break
			}
			if marked == nil {
				marked = make([]bool, len(line))
			}
			start := from + i
			for k := start; k < start+len(p); k++ {
				marked[k] = true
			}
			from = start + 1
		}
	}
	out := make([]byte, 0, limit+len(suffix))
	for i := 0; i < limit; i++ {
		switch {
		case marked == nil || !marked[i]:
			out = append(out, line[i])
		case i == 0 || !marked[i-1]:
			out = append(out, Mask...)
		}
	}
	out = append(out, suffix...)
	if marked == nil && suffix == "" {
		return out
	}
	for _, p := range r.pats {
		if bytes.Contains(out, p) {
			return nil
		}
	}
	return out
}

// maxLine caps a log line; longer lines are cut and the rest dropped.
const maxLine = 64 << 10

const truncated = " [line truncated]"

// lineWriter turns a byte stream into redacted lines as they complete, so a
// secret split across two writes is still seen whole. It is used by one
// process's output copier at a time, which os/exec serialises.
type lineWriter struct {
	red      *Redactor
	emit     func(string)
	max      int // maxLine unless a test lowers it
	buf      []byte
	dropping bool // inside a line that was already cut
}

func newLineWriter(red *Redactor, emit func(string)) *lineWriter {
	return &lineWriter{red: red, emit: emit, max: maxLine}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.append(p)
			break
		}
		w.append(p[:i])
		w.endLine()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) append(b []byte) {
	if w.dropping {
		return
	}
	w.buf = append(w.buf, b...)
	if len(w.buf) > w.max {
		w.emit(string(w.red.redactCut(w.buf)))
		w.buf = w.buf[:0]
		w.dropping = true
	}
}

func (w *lineWriter) endLine() {
	if !w.dropping {
		w.emit(string(w.red.Redact(bytes.TrimSuffix(w.buf, []byte("\r")))))
	}
	w.buf = w.buf[:0]
	w.dropping = false
}

// Flush emits a final line that had no newline.
func (w *lineWriter) Flush() {
	if len(w.buf) > 0 || w.dropping {
		w.endLine()
	}
}
