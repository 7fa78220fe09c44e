package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// Session lifetimes: a session ends after IdleTimeout without a request or
// MaxAge after sign-in, whichever comes first.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxAge      = 12 * time.Hour
)

// session is one signed-in browser. The API token stays on the server; the
// browser holds only the session id.
type session struct {
	token    secret.Value
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessions holds sessions in memory, keyed by the SHA-256 of their id so
// that a lookup's timing says nothing about stored ids. Sessions do not
// survive a restart and are per node: signing in again is the remedy.
type sessions struct {
	now       func() time.Time
	idle, max time.Duration

	mu   sync.Mutex
	byID map[[32]byte]*session
}

func newSessions(now func() time.Time, idle, max time.Duration) *sessions {
	return &sessions{now: now, idle: idle, max: max, byID: map[[32]byte]*session{}}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for tok and returns its id.
func (s *sessions) create(tok secret.Value) (string, *session) {
	id := randomString()
	now := s.now()
	ss := &session{token: tok, csrf: randomString(), created: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	s.byID[sha256.Sum256([]byte(id))] = ss
	return id, ss
}

// get returns the live session id names and marks it used; an expired one
// is removed.
func (s *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	key := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byID[key]
	if !ok {
		return nil, false
	}
	if s.expired(ss, now) {
		delete(s.byID, key)
		return nil, false
	}
	ss.lastSeen = now
	return ss, true
}

// end removes session id (sign-out).
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(id)))
}

func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.lastSeen) >= s.idle || now.Sub(ss.created) >= s.max
}

// sweep drops expired sessions; called with mu held, on sign-in, so the
// map cannot grow with abandoned sessions.
func (s *sessions) sweep(now time.Time) {
	for k, ss := range s.byID {
		if s.expired(ss, now) {
			delete(s.byID, k)
		}
	}
}

// checkCSRF compares a submitted CSRF token with the session's in constant time.
func (ss *session) checkCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}
