package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/runcred/runcred/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(body)); err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return body
}

// TestNilTakesEveryReport: parts built without metrics report to nil.
func TestNilTakesEveryReport(t *testing.T) {
	var m *metrics.Metrics
	m.Request("v1:kv", 200, time.Millisecond)
	m.AuditAppend(1, time.Millisecond)
	m.ClaimWait(time.Second)
	m.Mint("aud")
	m.LeaseRevocations("revoked", 3)
	m.UpstreamRevoke()
}

// TestAudiencesAreCapped: past 64 audiences, mints count as "other", so a
// caller choosing audiences cannot grow the series without bound.
func TestAudiencesAreCapped(t *testing.T) {
	m := metrics.New()
	for i := range 100 {
		m.Mint(fmt.Sprintf("aud-%d", i))
	}
	m.Mint("aud-1")
	body := scrape(t, m)
	if n := strings.Count(body, "runcred_identity_mints_total{"); n != 65 {
		t.Errorf("%d audience series, want 64 and other", n)
	}
	if !strings.Contains(body, `runcred_identity_mints_total{audience="other"} 36`) || !strings.Contains(body, `runcred_identity_mints_total{audience="aud-1"} 2`) {
		t.Errorf("mints:\n%s", body)
	}
}

// TestStateIsCachedAndErrorsLeaveTheRest: the state is read once per ttl,
// and a failed read leaves its gauges out while the rest is served.
func TestStateIsCachedAndErrorsLeaveTheRest(t *testing.T) {
	m := metrics.New()
	reads := 0
	var fail error
	m.CountState(func(context.Context) (metrics.State, error) {
		reads++
		return metrics.State{LeasesLive: 7, TokensLive: 2, RunsByStatus: map[string]int64{"planned": 1}}, fail
	}, time.Hour)
	for range 3 {
		body := scrape(t, m)
		for _, want := range []string{`runcred_leases{state="live"} 7`, `runcred_tokens_live 2`, `runcred_runs{status="planned"} 1`} {
			if !strings.Contains(body, want) {
				t.Fatalf("no %s in\n%s", want, body)
			}
		}
	}
	if reads != 1 {
		t.Errorf("%d reads for 3 scrapes within the ttl, want 1", reads)
	}
	m2 := metrics.New()
	fail = errors.New("database down")
	m2.CountState(func(context.Context) (metrics.State, error) { return metrics.State{}, fail }, time.Hour)
	m2.Request("api/v2", 200, time.Millisecond)
	rec := httptest.NewRecorder()
	m2.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if strings.Contains(string(body), "runcred_leases{") || !strings.Contains(string(body), `runcred_http_requests_total{code="200",family="api/v2"} 1`) {
		t.Errorf("with the state unreadable:\n%s", body)
	}
}
