package agent

import (
	"runtime"
	"testing"
)

func TestHarden(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("prctl is Linux's")
	}
	if err := Harden(); err != nil {
		t.Fatal(err)
	}
	if d, err := dumpable(); err != nil || d {
		t.Fatalf("dumpable after Harden = %v, %v", d, err)
	}
}
