package daemon

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
	"github.com/runcred/runcred/internal/respond"
)

// Limits bound what one HTTP connection may hold of the server: how long
// its request may take to arrive, how long its response may take to leave,
// how long it may idle, and how much request body all requests together
// may have in flight. Time limits are rates past a grace period rather
// than fixed durations, so a 256 MiB plan upload on a slow link is fine
// while a client sending a byte a second is cut off after the grace
// period. Zero fields take DefaultLimits' values.
type Limits struct {
	// HeaderTimeout is how long the request line and headers may take.
	HeaderTimeout time.Duration
	// BodyGrace and MinBodyRate: a request body must have arrived by
	// BodyGrace plus its size at MinBodyRate (bytes a second) after the
	// handler starts, or the connection is cut.
	BodyGrace   time.Duration
	MinBodyRate int64
	// WriteGrace and MinWriteRate: the same for the response, counted from
	// the handler's start; WriteGrace covers a claim's long poll.
	WriteGrace   time.Duration
	MinWriteRate int64
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration
	// BodyBudget is how many bytes of request bodies the server reads at
	// once, across all requests. A request whose declared size does not
	// fit waits up to BudgetWait for others to finish, then gets 503 with
	// Retry-After, its body unread; one larger than the whole budget gets
	// 413. A body of undeclared size (chunked) takes budget as it is read
	// and fails its read when none is left.
	BodyBudget int64
	BudgetWait time.Duration
}

// DefaultLimits are the limits of a server that sets none.
func DefaultLimits() Limits {
	return Limits{
		HeaderTimeout: 10 * time.Second,
		BodyGrace:     30 * time.Second,
		MinBodyRate:   16 << 10,
		WriteGrace:    jobapi.MaxWait + 30*time.Second,
		MinWriteRate:  16 << 10,
		IdleTimeout:   2 * time.Minute,
		BodyBudget:    512 << 20, // twice the largest body (a saved plan, 256 MiB)
		BudgetWait:    10 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.HeaderTimeout, d.HeaderTimeout)
	set(&l.BodyGrace, d.BodyGrace)
	set(&l.WriteGrace, d.WriteGrace)
	set(&l.IdleTimeout, d.IdleTimeout)
	set(&l.BudgetWait, d.BudgetWait)
	if l.MinBodyRate <= 0 {
		l.MinBodyRate = d.MinBodyRate
	}
	if l.MinWriteRate <= 0 {
		l.MinWriteRate = d.MinWriteRate
	}
	if l.BodyBudget <= 0 {
		l.BodyBudget = d.BodyBudget
	}
	return l
}

// limited applies l's per-request limits to next: the body and response
// deadlines, and the body budget.
func limited(l Limits, b *budget, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(start.Add(l.WriteGrace))
		w = &pacedWriter{ResponseWriter: w, rc: rc, start: start, grace: l.WriteGrace, rate: l.MinWriteRate}

		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			// No read deadline: net/http is already reading ahead on the
			// connection, and a deadline passing would cancel the request.
			next.ServeHTTP(w, r)
			return
		}
		// The deadline is set before the budget is waited for: a request
		// waiting for room still cannot hold its connection for good.
		_ = rc.SetReadDeadline(start.Add(l.BodyGrace))
		body := &pacedBody{body: r.Body, rc: rc, start: start, grace: l.BodyGrace, rate: l.MinBodyRate, budget: b, chunked: r.ContentLength < 0}
		defer body.release()
		if r.ContentLength > 0 {
			if r.ContentLength > b.size {
				refuse(w, r, http.StatusRequestEntityTooLarge, "request body is larger than the server accepts")
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), l.BudgetWait)
			err := b.acquire(ctx, r.ContentLength)
			cancel()
			if err != nil {
				w.Header().Set("Retry-After", retryAfter)
				refuse(w, r, http.StatusServiceUnavailable, "the server is reading too many request bodies; retry shortly")
				return
			}
			body.held = r.ContentLength
		}
		r.Body = body
		next.ServeHTTP(w, r)
	})
}

// refuse answers without reading the body and closes the connection, so
// the unread body is not drained into the server.
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Connection", "close")
	respond.JSON(w, status, map[string]any{"errors": []string{msg}})
}

// pacedBody is a request body whose read deadline moves with what has
// arrived: the grace period plus the bytes read at the minimum rate. Once
// it has seen EOF it sets no deadline again: net/http then reads ahead on
// the connection to notice a client that goes away, and a deadline
// passing during that read would cancel the request while its handler
// waits (a long poll). A body of undeclared size takes budget as it is
// read.
type pacedBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	grace   time.Duration
	rate    int64
	read    int64
	eof     bool
	budget  *budget
	held    int64 // budget taken for this body
	chunked bool  // of undeclared size
}

// errBudget fails a read of a body of undeclared size that would take the
// server past its body budget.
var errBudget = errors.New("the server is reading too many request bodies")

// chunkStep is how much budget a body of undeclared size takes at a time.
const chunkStep = 1 << 20

func (p *pacedBody) Read(buf []byte) (int, error) {
	if p.eof {
		return 0, io.EOF
	}
	// A declared size was taken whole before the handler ran (and the
	// server reads no further than it); an undeclared one takes more as
	// it goes.
	if p.chunked && len(buf) > 0 && p.read >= p.held {
		if !p.budget.tryAcquire(chunkStep) {
			return 0, errBudget
		}
		p.held += chunkStep
	}
	if p.chunked {
		buf = buf[:min(int64(len(buf)), p.held-p.read)]
	}
	_ = p.rc.SetReadDeadline(p.start.Add(p.grace + time.Duration(p.read*int64(time.Second)/p.rate)))
	n, err := p.body.Read(buf)
	p.read += int64(n)
	p.eof = err == io.EOF
	return n, err
}

func (p *pacedBody) Close() error { return p.body.Close() }

func (p *pacedBody) release() {
	p.budget.release(p.held)
	p.held = 0
}

// pacedWriter moves the response's write deadline with what has been
// written, as pacedBody does for the request.
type pacedWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	start   time.Time
	grace   time.Duration
	rate    int64
	written int64
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(p.start.Add(p.grace + time.Duration((p.written+int64(len(b)))*int64(time.Second)/p.rate)))
	n, err := p.ResponseWriter.Write(b)
	p.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// budget is a byte semaphore: the request body bytes the server has
// agreed to read at once.
type budget struct {
	size int64

	mu      sync.Mutex
	used    int64
	changed chan struct{} // closed and replaced whenever used goes down
}

func newBudget(size int64) *budget { return &budget{size: size, changed: make(chan struct{})} }

func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.size {
		return false
	}
	b.used += n
	return true
}

// acquire waits until n bytes fit or ctx ends.
func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used+n <= b.size {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// inUse is how many bytes are taken now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// retryAfter is the Retry-After, in seconds, of a refusal for want of
// budget.
const retryAfter = "1"
