package agent

import (
	"context"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/jobapi"
)

// logStream sends a phase's log lines (already redacted by the phase) to
// the server as they come, in chunks, every flush interval.
type logStream struct {
	api     *jobapi.JobClient
	onError func(error) // each upload's outcome, nil for success; called from one goroutine at a time

	mu   sync.Mutex
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

func newLogStream(api *jobapi.JobClient, every time.Duration, onError func(error)) *logStream {
	s := &logStream{api: api, onError: onError, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.flush(context.Background())
			}
		}
	}()
	return s
}

// Line queues one line of the log.
func (s *logStream) Line(line string) {
	s.mu.Lock()
	s.buf = append(append(s.buf, line...), '\n')
	s.mu.Unlock()
}

// flush sends what is queued, at most a chunk at a time; a chunk that
// fails stays queued for the next flush.
func (s *logStream) flush(ctx context.Context) {
	for {
		s.mu.Lock()
		n := min(len(s.buf), jobapi.MaxLogChunk)
		chunk := s.buf[:n:n]
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if err := s.api.AppendLog(ctx, chunk); err != nil {
			s.onError(err)
			return
		}
		s.onError(nil) // delivered: the log works (again)
		s.mu.Lock()
		s.buf = s.buf[n:]
		s.mu.Unlock()
	}
}

// Close stops the ticker and sends the rest.
func (s *logStream) Close(ctx context.Context) {
	close(s.stop)
	<-s.done
	s.flush(ctx)
}
