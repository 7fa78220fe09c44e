package web

import (
	"strings"
	"testing"
	"time"
)

func TestPagesParse(t *testing.T) {
	p := mustPages(time.Now)
	for _, name := range []string{"signin", "error", "orgs", "workspaces", "workspace", "run", "runsummary", "audit", "identity", "broker"} {
		if p.byName[name] == nil {
			t.Errorf("no page %s", name)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	got := string(ago(now, now.Add(-3*time.Minute)))
	if !strings.Contains(got, "3 min ago") || !strings.Contains(got, `title="2026-01-02T15:01:05Z"`) {
		t.Errorf("ago = %s", got)
	}
	if got := string(ago(now, now.Add(90*time.Minute))); !strings.Contains(got, ">in 1 h<") || !strings.Contains(got, `title="2026-01-02T16:34:05Z"`) {
		t.Errorf("ago of a time to come = %s", got)
	}
	if got := string(ago(now, now.Add(-3*24*time.Hour))); !strings.Contains(got, ">3 days ago<") {
		t.Errorf("ago three days back = %s", got)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/app/runs/run-1": "/app/runs/run-1", "": "/app/", "https://evil.example/": "/app/",
		"//evil.example/app/": "/app/", "/app/\\evil": "/app/", "/api/v2/": "/app/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
