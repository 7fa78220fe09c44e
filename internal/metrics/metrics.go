// Package metrics owns runcred's Prometheus metrics: the registry of one
// server, what its parts report (requests, audit appends, lease
// revocations, claims, mints), the state counted at scrape time (leases,
// tokens, runs), and the /metrics handler in Prometheus' text format.
//
// A nil *Metrics takes every report and records nothing, so a part built
// without metrics (a unit test's) needs no check. Label values come from
// small fixed sets (API families, status codes, run statuses); the one
// open-ended label, a mint's audience, is capped at maxAudiences values.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxAudiences bounds the distinct audience label values of mints; later
// ones are counted as "other".
const maxAudiences = 64

// Metrics is one server's metrics.
type Metrics struct {
	reg              *prometheus.Registry
	requests         *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	auditLatency     prometheus.Histogram
	auditBatch       prometheus.Histogram
	claimWait        prometheus.Histogram
	mints            *prometheus.CounterVec
	leaseRevocations *prometheus.CounterVec
	upstreamRevokes  prometheus.Counter

	mu        sync.Mutex
	audiences map[string]bool
}

// New returns the metrics of one server, with Go's runtime and the
// process's (resident memory, CPU, open files) among them.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), audiences: map[string]bool{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "runcred_http_requests_total",
		Help: "HTTP requests answered, by API family (v1:<mount type>, api/v2, well-known, app, runcred, other) and status code.",
	}, []string{"family", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "runcred_http_request_duration_seconds",
		Help:    "Time from a request's headers to its handler's return, by API family and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"family", "code"})
	m.auditLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "runcred_audit_append_duration_seconds",
		Help:    "Time to append (and commit) a batch of audit records.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "runcred_audit_append_batch_size",
		Help:    "Audit records committed together.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	m.claimWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "runcred_run_claim_wait_seconds",
		Help:    "Time an agent's claim waited before it got a job or gave up.",
		Buckets: []float64{.001, .01, .1, .5, 1, 2.5, 5, 10, 30, 60},
	})
	m.mints = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "runcred_identity_mints_total",
		Help: "Workload-identity tokens minted, by audience (past 64 audiences, \"other\").",
	}, []string{"audience"})
	m.leaseRevocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "runcred_lease_revocations_total",
		Help: "Lease revocations settled by this node: revoked, failed (to be retried) or irrevocable (given up).",
	}, []string{"result"})
	m.upstreamRevokes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "runcred_lease_upstream_revocations_total",
		Help: "Calls to secrets engines' upstream revocation (an AWS engine's IAM user deletion) by this node.",
	})
	m.reg.MustRegister(m.requests, m.latency, m.auditLatency, m.auditBatch, m.claimWait, m.mints, m.leaseRevocations,
		m.upstreamRevokes, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus' text format. A state gauge
// that cannot be read is left out of the answer and logged; the rest is
// served.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      errorLog{log},
	})
}

type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) { l.log.Warn("metrics", "err", v) }

// Request counts one answered HTTP request.
func (m *Metrics) Request(family string, code int, d time.Duration) {
	if m == nil {
		return
	}
	c := strconv.Itoa(code)
	m.requests.WithLabelValues(family, c).Inc()
	m.latency.WithLabelValues(family, c).Observe(d.Seconds())
}

// AuditAppend records one commit of batch audit records that took d.
func (m *Metrics) AuditAppend(batch int, d time.Duration) {
	if m == nil {
		return
	}
	m.auditBatch.Observe(float64(batch))
	m.auditLatency.Observe(d.Seconds())
}

// ClaimWait records how long an agent's claim waited.
func (m *Metrics) ClaimWait(d time.Duration) {
	if m == nil {
		return
	}
	m.claimWait.Observe(d.Seconds())
}

// Mint counts a workload-identity token minted for audience.
func (m *Metrics) Mint(audience string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if !m.audiences[audience] {
		if len(m.audiences) >= maxAudiences {
			audience = "other"
		} else {
			m.audiences[audience] = true
		}
	}
	m.mu.Unlock()
	m.mints.WithLabelValues(audience).Inc()
}

// LeaseRevocations counts n leases settled with result ("revoked",
// "failed", "irrevocable").
func (m *Metrics) LeaseRevocations(result string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.leaseRevocations.WithLabelValues(result).Add(float64(n))
}

// UpstreamRevoke counts one call to an engine's upstream revocation.
func (m *Metrics) UpstreamRevoke() {
	if m == nil {
		return
	}
	m.upstreamRevokes.Inc()
}

// State is what the database holds, counted at scrape time.
type State struct {
	LeasesLive, LeasesExpiring, LeasesIrrevocable int64
	TokensLive                                    int64
	RunsByStatus                                  map[string]int64
}

// CountState registers the gauges of State, read by read at scrape time at
// most once per ttl (scrapes between get the last reading), so frequent or
// concurrent scrapes cost the database one set of counts per ttl.
func (m *Metrics) CountState(read func(context.Context) (State, error), ttl time.Duration) {
	m.reg.MustRegister(&stateCollector{read: read, ttl: ttl})
}

var (
	leasesDesc = prometheus.NewDesc("runcred_leases", "Leases by state: live (active, unexpired), expiring (expired, awaiting revocation or its retry), irrevocable.",
		[]string{"state"}, nil)
	tokensDesc = prometheus.NewDesc("runcred_tokens_live", "Broker tokens not expired.", nil, nil)
	runsDesc   = prometheus.NewDesc("runcred_runs", "Runs by status.", []string{"status"}, nil)
)

type stateCollector struct {
	read func(context.Context) (State, error)
	ttl  time.Duration

	mu     sync.Mutex
	at     time.Time
	last   State
	lastOK bool
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- leasesDesc
	ch <- tokensDesc
	ch <- runsDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lastOK || time.Since(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := c.read(ctx)
		cancel()
		if err != nil {
			c.lastOK = false
			ch <- prometheus.NewInvalidMetric(leasesDesc, err)
			return
		}
		c.last, c.at, c.lastOK = s, time.Now(), true
	}
	s := c.last
	ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(s.LeasesLive), "live")
	ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(s.LeasesExpiring), "expiring")
	ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(s.LeasesIrrevocable), "irrevocable")
	ch <- prometheus.MustNewConstMetric(tokensDesc, prometheus.GaugeValue, float64(s.TokensLive))
	for status, n := range s.RunsByStatus {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(n), status)
	}
}
