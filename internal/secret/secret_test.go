package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	const plain = "s3cr3t-value"
	v := FromString(plain)
	holder := struct {
		Name string
		Key  Value
	}{"x", v}
	hidden := struct{ k Value }{v} // fmt does not call methods on unexported fields

	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out = append(out, fmt.Sprintf(verb, v), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, hidden), fmt.Sprintf(verb, &hidden))
	}
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "k", v, "h", holder)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "k", v)
	out = append(out, buf.String())

	for _, s := range out {
		if strings.Contains(s, plain) || strings.Contains(s, fmt.Sprintf("%x", plain)) || strings.Contains(s, fmt.Sprintf("%X", plain)) ||
			strings.Contains(s, fmt.Sprint([]byte(plain))) || strings.Contains(s, "115 51 99") {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if v.RevealString() != plain {
		t.Fatalf("Reveal = %q", v.RevealString())
	}
}

func TestEqual(t *testing.T) {
	a, b, c := FromString("abc"), FromString("abc"), FromString("abd")
	if !a.Equal(b) || a.Equal(c) || a.Equal(FromString("ab")) {
		t.Fatal("Equal wrong")
	}
}
