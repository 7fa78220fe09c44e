package tfinput_test

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/tfinput"
)

func TestAddresses(t *testing.T) {
	for _, c := range []struct {
		addr            string
		target, replace bool
	}{
		{"random_id.a", true, true},
		{`random_id.a[0]`, true, true},
		{`random_id.a["k"]`, true, true},
		{`module.m.random_id.a`, true, true},
		{`module.m["x"].module.n[2].aws_s3_bucket.b["y"]`, true, true},
		{`module.m`, true, false},
		{`module.m[1]`, true, false},
		{`data.aws_ami.x`, true, false},
		{`module.m.data.aws_ami.x[0]`, true, false},
		{"", false, false},
		{"random_id", false, false},
		{"random_id.a.b", false, false},
		{"random_id.a[0][1]", false, false},
		{"random_id.a[0].b", false, false},
		{"random_id.a[-1]", false, false},
		{"random_id.a[1.5]", false, false},
		{"random_id.a[99999999999]", false, false},
		{"random_id.a[*]", false, false},
		{"random_id.a[true]", false, false},
		{"module", false, false},
		{"module.m.random_id", false, false},
		{"module[0].x.y", false, false},
		{"data.x", false, false},
		{"random_id.a extra", false, false},
		{"random_id.a -target=x", false, false},
		{"-random_id.a", false, false},
		{"random_id.a\n", false, false},
		{"1abc.x", false, false},
		{`random_id."a"`, false, false},
		{"random_id.a[var.x]", false, false},
		{strings.Repeat("a", tfinput.MaxAddress) + ".b", false, false},
		{"random_id.\xff", false, false},
	} {
		if err := tfinput.Target(c.addr); (err == nil) != c.target {
			t.Errorf("Target(%q) = %v, want ok %v", c.addr, err, c.target)
		}
		if err := tfinput.Replace(c.addr); (err == nil) != c.replace {
			t.Errorf("Replace(%q) = %v, want ok %v", c.addr, err, c.replace)
		}
	}
}

func TestValues(t *testing.T) {
	for src, want := range map[string]string{
		`"x"`:                          `"x"`,
		`42`:                           `42`,
		`true`:                         `true`,
		`["a", 1]`:                     `["a",1]`,
		`{ team = "platform", n = 2 }`: `{"n":2,"team":"platform"}`,
		`"a${"b"}"`:                    `"ab"`,
		`null`:                         `null`,
	} {
		b, _, err := tfinput.Value(src)
		if err != nil || string(b) != want {
			t.Errorf("Value(%s) = %s, %v; want %s", src, b, err, want)
		}
	}
	for _, src := range []string{`x`, `bare words`, `var.x`, `file("/etc/passwd")`, `[for i in [1] : i]`, `"%{for i in [1]}x%{endfor}"`,
		`1e100000000`, `"unterminated`, `{`, strings.Repeat(" ", tfinput.MaxValue+1)} {
		if _, _, err := tfinput.Value(src); err == nil {
			t.Errorf("Value(%.40q) accepted", src)
		} else if len(src) > 3 && strings.Contains(err.Error(), src) {
			t.Errorf("Value(%.40q): the error quotes the value: %v", src, err)
		}
	}
}

func TestKeys(t *testing.T) {
	for k, ok := range map[string]bool{"name": true, "_x": true, "a-b_1": true, "": false, "1a": false, "a.b": false, "a b": false,
		strings.Repeat("a", 129): false, "é": true} {
		if err := tfinput.Key(k); (err == nil) != ok {
			t.Errorf("Key(%q) = %v, want ok %v", k, err, ok)
		}
	}
}
