package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	vault "github.com/hashicorp/vault/api"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/runcred/runcred/internal/daemon"
	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// scrape reads /metrics with tok and parses it with Prometheus' own text
// parser; it returns the status and, for a 200, the metric families.
func scrape(t *testing.T, srv *daemontest.Server, tok string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.D.URL()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := srv.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return resp.StatusCode, fams
}

// value is the value of the sample of family name whose labels include
// want (a counter's, a gauge's, or a histogram's count); -1 if none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetrics: /metrics needs a token that may read sys/metrics (as
// Vault's sys/metrics), or the server's unauthenticated access; it serves
// every family in Prometheus' format, and the request counters move with
// requests.
func TestMetrics(t *testing.T) {
	daemontest.Each(t, func(t *testing.T, start daemontest.Starter) {
		srv := start(t, nil)
		root := vaultAs(t, srv, srv.Token)
		if code, _ := scrape(t, srv, ""); code != http.StatusUnauthorized {
			t.Errorf("/metrics without a token: %d, want 401", code)
		}
		if err := root.Sys().PutPolicy("kvonly", `path "secret/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"kvonly"}})
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := scrape(t, srv, sec.Auth.ClientToken); code != http.StatusForbidden {
			t.Errorf("/metrics with a token that may not read sys/metrics: %d, want 403", code)
		}
		if err := root.Sys().PutPolicy("metrics", `path "sys/metrics" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		sec, err = root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"metrics"}})
		if err != nil {
			t.Fatal(err)
		}
		reader := sec.Auth.ClientToken
		code, before := scrape(t, srv, reader)
		if code != http.StatusOK {
			t.Fatalf("/metrics with a token that may read sys/metrics: %d", code)
		}
		for _, f := range []string{"runcred_http_requests_total", "runcred_http_request_duration_seconds", "runcred_audit_append_duration_seconds",
			"runcred_audit_append_batch_size", "runcred_leases", "runcred_tokens_live", "process_resident_memory_bytes", "go_goroutines"} {
			if before[f] == nil {
				t.Errorf("no %s in /metrics", f)
			}
		}
		for _, state := range []string{"live", "expiring", "irrevocable"} {
			if v := value(before, "runcred_leases", map[string]string{"state": state}); v != 0 {
				t.Errorf("runcred_leases{state=%q} = %v, want 0", state, v)
			}
		}
		if v := value(before, "runcred_tokens_live", nil); v < 3 {
			t.Errorf("runcred_tokens_live = %v, want at least the 3 tokens made", v)
		}

		if err := root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := root.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = root.Logical().Read("nosuchmount/x")
		_, after := scrape(t, srv, reader)
		kv := map[string]string{"family": "v1:kv", "code": "200"}
		if got := value(after, "runcred_http_requests_total", kv) - max(value(before, "runcred_http_requests_total", kv), 0); got != 3 {
			t.Errorf("KV writes counted: %v, want 3", got)
		}
		if value(after, "runcred_http_request_duration_seconds", kv) != value(after, "runcred_http_requests_total", kv) {
			t.Error("KV writes timed apart from their count")
		}
		if value(after, "runcred_http_requests_total", map[string]string{"family": "v1:none", "code": "404"}) < 1 {
			t.Error("a request to no mount is not counted under v1:none")
		}
		if value(after, "runcred_http_requests_total", map[string]string{"family": "ops", "code": "403"}) < 1 {
			t.Error("the refused scrape is not counted")
		}
		if value(after, "runcred_audit_append_batch_size", nil) <= value(before, "runcred_audit_append_batch_size", nil) {
			t.Error("audit appends not counted")
		}
		// Label values stay within a small fixed set: no path, no id.
		for _, name := range []string{"runcred_http_requests_total", "runcred_http_request_duration_seconds"} {
			for _, m := range after[name].Metric {
				for _, l := range m.Label {
					if l.GetName() == "family" && strings.ContainsAny(l.GetValue(), "/") && !strings.HasPrefix(l.GetValue(), "api/") {
						t.Errorf("%s family label %q", name, l.GetValue())
					}
				}
			}
		}

		open := start(t, func(c *daemon.Config) { c.UnauthenticatedMetrics = true })
		if code, fams := scrape(t, open, ""); code != http.StatusOK || fams["runcred_leases"] == nil {
			t.Errorf("/metrics without a token on a server with unauthenticated metrics access: %d", code)
		}
	})
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLog: at debug level every request is logged once with its
// method, route template, status, duration and request id (the one sent
// back as X-Request-Id), and no token, body, query or path value of it.
func TestAccessLog(t *testing.T) {
	var logs syncBuffer
	srv := daemontest.Start(t, func(c *daemon.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	root := vaultAs(t, srv, srv.Token)
	if err := root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	const bodySecret, pathSecret, querySecret = "body-secret-4f1c", "path-secret-9a2e", "query-secret-77d0"
	if _, err := root.Logical().Write("secret/data/"+pathSecret, map[string]any{"data": map[string]any{"k": bodySecret}}); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", srv.D.URL()+"/v1/secret/data/"+pathSecret+"?version=1&x="+querySecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", srv.Token)
	resp, err := srv.HTTPClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("read: %d, request id %q", resp.StatusCode, id)
	}
	req, _ = http.NewRequest("GET", srv.D.URL()+"/api/v2/organizations/"+pathSecret+"?q="+querySecret, nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	if resp, err = srv.HTTPClient(t).Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	out := logs.String()
	for _, s := range []string{srv.Token, bodySecret, pathSecret, querySecret} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	var read, org bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Msg, Method, Route, RequestID string
			Status                        int
			Duration                      *int64
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e.Msg != "request" {
			continue
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(line), &raw)
		e.RequestID, _ = raw["request_id"].(string)
		if e.Method == "" || e.Route == "" || e.Status == 0 || e.Duration == nil || e.RequestID == "" {
			t.Errorf("access log line without a field: %s", line)
		}
		if e.RequestID == id {
			read = e.Route == "/v1/secret/data/*" && e.Status == 200 && e.Method == "GET"
		}
		org = org || e.Route == "GET /api/v2/organizations/{org}" && e.Status == 404
	}
	if !read || !org {
		t.Errorf("access log: KV read logged by its template %v, organization read %v:\n%s", read, org, out)
	}
}
