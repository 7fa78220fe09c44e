package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// counted is a request body that counts what the server read of it.
type counted struct {
	r    io.Reader
	read atomic.Int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}
func (c *counted) Close() error { return nil }

func bodyOf(n int) *counted { return &counted{r: bytes.NewReader(make([]byte, n))} }

// TestBodyBudget: bodies in flight never exceed the budget. A declared
// body that does not fit waits, then gets 503 with Retry-After, unread; one
// larger than the budget gets 413, unread; an undeclared (chunked) one
// fails its read when the budget runs out; room comes back when a request
// ends.
func TestBodyBudget(t *testing.T) {
	const mib = 1 << 20
	l := DefaultLimits()
	l.BodyBudget, l.BudgetWait = 4*mib, 50*time.Millisecond
	b := newBudget(l.BodyBudget)
	hold := make(chan struct{})
	var readErrs atomic.Int32
	h := limited(l, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			readErrs.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/hold" {
			<-hold
		}
		w.WriteHeader(http.StatusOK)
	}))
	send := func(path string, body *counted, size int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest("PUT", path, nil)
		req.Body, req.ContentLength = body, size
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	held := make(chan int, 1)
	go func() { held <- send("/hold", bodyOf(3*mib), 3*mib).Code }()
	waitFor(t, func() bool { return b.inUse() == 3*mib })

	body := bodyOf(2 * mib)
	rec := send("/", body, 2*mib)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || body.read.Load() != 0 {
		t.Fatalf("over budget: HTTP %d, Retry-After %q, %d bytes read", rec.Code, rec.Header().Get("Retry-After"), body.read.Load())
	}
	body = bodyOf(5 * mib)
	if rec := send("/", body, 5*mib); rec.Code != http.StatusRequestEntityTooLarge || body.read.Load() != 0 {
		t.Fatalf("larger than the budget: HTTP %d, %d bytes read", rec.Code, body.read.Load())
	}
	body = bodyOf(2 * mib)
	if rec := send("/", body, -1); rec.Code != http.StatusBadRequest || readErrs.Load() != 1 || body.read.Load() > mib {
		t.Fatalf("chunked over budget: HTTP %d, %d read errors, %d bytes read", rec.Code, readErrs.Load(), body.read.Load())
	}
	if got := b.inUse(); got != 3*mib {
		t.Fatalf("%d bytes in use with one 3 MiB request in flight", got)
	}

	close(hold)
	if code := <-held; code != http.StatusOK {
		t.Fatalf("held request: HTTP %d", code)
	}
	if b.inUse() != 0 {
		t.Fatalf("%d bytes still in use after every request ended", b.inUse())
	}
	for _, size := range []int64{2 * mib, -1} {
		if rec := send("/", bodyOf(2*mib), size); rec.Code != http.StatusOK {
			t.Fatalf("size %d once the budget is free: HTTP %d", size, rec.Code)
		}
	}
	if b.inUse() != 0 {
		t.Fatalf("%d bytes in use after a chunked request", b.inUse())
	}
}

// TestBudgetWaits: a request that does not fit waits for room rather than
// failing at once.
func TestBudgetWaits(t *testing.T) {
	b := newBudget(10)
	if !b.tryAcquire(8) {
		t.Fatal("8 of 10 refused")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.acquire(ctx, 5); err == nil {
		t.Fatal("5 more of 10 granted with 8 in use")
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(t.Context(), 5) }()
	b.release(8)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if b.inUse() != 5 {
		t.Fatalf("in use %d, want 5", b.inUse())
	}
}

// TestLongPoll: a handler that waits well past the body's deadline (a
// claim's long poll) keeps its request, whether it had no body or has read
// its body (and read again at EOF): the server does not cancel it.
func TestLongPoll(t *testing.T) {
	l := DefaultLimits()
	l.BodyGrace = 20 * time.Millisecond
	canceled := make(chan bool, 1)
	srv := httptest.NewServer(limited(l, newBudget(l.BodyBudget), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		_, _ = r.Body.Read(make([]byte, 1))
		t := time.NewTimer(20 * l.BodyGrace)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			canceled <- true
		case <-t.C:
			canceled <- false
		}
	})))
	defer srv.Close()
	for _, body := range []io.Reader{nil, strings.NewReader("claim")} {
		resp, err := http.Post(srv.URL, "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if <-canceled {
			t.Fatalf("body %v: the request was canceled while its handler waited", body != nil)
		}
	}
}

// TestSlowReaderCutOff: a client that does not read its response does not
// hold the handler for good: the write fails once the grace period and the
// minimum rate are used up.
func TestSlowReaderCutOff(t *testing.T) {
	l := DefaultLimits()
	l.WriteGrace, l.MinWriteRate = 100*time.Millisecond, 1<<20
	failed := make(chan error, 1)
	srv := httptest.NewServer(limited(l, newBudget(l.BodyBudget), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 1 << 10 { // 1 GiB, far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
		failed <- nil
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // never read
	err = <-failed
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the write to a client that reads nothing: %v, want a timeout", err)
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
