package creds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/secret"
)

// simClock is simulated time: After moves it by the wait and fires at
// once, until the wait would pass limit; then it never fires and idle is
// closed. A phase of many token lifetimes runs in no real time.
type simClock struct {
	mu    sync.Mutex
	now   time.Time
	limit time.Time
	idle  chan struct{}
	once  sync.Once
}

func newSimClock(span time.Duration) *simClock {
	t0 := time.Unix(1_800_000_000, 0)
	return &simClock{now: t0, limit: t0.Add(span), idle: make(chan struct{})}
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *simClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.Add(d).After(c.limit) {
		c.once.Do(func() { close(c.idle) })
		return nil
	}
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// expiringMinter mints tokens that live lifetime on clock; after failAfter
// tokens (0: never) it refuses.
type expiringMinter struct {
	mu        sync.Mutex
	clock     *simClock
	lifetime  time.Duration
	failAfter int
	minted    []time.Time // when each token was minted
}

func (m *expiringMinter) Mint(ctx context.Context, aud string) (secret.Value, error) {
	tok, _, err := m.MintExpiring(ctx, aud)
	return tok, err
}

func (m *expiringMinter) MintExpiring(_ context.Context, aud string) (secret.Value, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAfter > 0 && len(m.minted) >= m.failAfter {
		return secret.Value{}, time.Time{}, errors.New("the phase has ended")
	}
	now := m.clock.Now()
	m.minted = append(m.minted, now)
	return secret.FromString(fmt.Sprintf("jwt.%d.%s", len(m.minted), aud)), now.Add(m.lifetime), nil
}

// TestTokenFileRefreshed: a phase ten times longer than its tokens' 90 s
// lifetime gets a fresh token file every 60 s (two thirds of the
// lifetime), each token told to the redactor first; nothing is written
// after Close, which removes the file.
func TestTokenFileRefreshed(t *testing.T) {
	clock := newSimClock(10 * time.Minute)
	m := &expiringMinter{clock: clock, lifetime: 90 * time.Second}
	var told []string
	var mu sync.Mutex
	dir := t.TempDir()
	r, err := Prepare(context.Background(), Config{Dir: dir, Run: testRun(), Minter: m, Now: clock.Now, After: clock.After,
		Env:      map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/x"},
		OnSecret: func(v secret.Value) { mu.Lock(); told = append(told, v.RevealString()); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	path := r.Env["AWS_WEB_IDENTITY_TOKEN_FILE"]
	done := make(chan error, 1)
	go func() { done <- r.Start(context.Background()) }()
	<-clock.idle // the simulated phase has run its ten minutes

	m.mu.Lock()
	minted := append([]time.Time(nil), m.minted...)
	m.mu.Unlock()
	if len(minted) != 11 {
		t.Fatalf("%d tokens minted in 10 minutes of 90 s tokens, want 11 (one every 60 s)", len(minted))
	}
	for i := 1; i < len(minted); i++ {
		if gap := minted[i].Sub(minted[i-1]); gap != 60*time.Second {
			t.Fatalf("token %d came %v after the one before, want 60s", i+1, gap)
		}
	}
	want := fmt.Sprintf("jwt.%d.aws.workload.identity", len(minted))
	if got := readFile(t, dir, path); got != want {
		t.Fatalf("token file holds %q, want the newest token %q", got, want)
	}
	mu.Lock()
	if len(told) != 10 || told[9] != want {
		t.Errorf("redactor told %q, want the 10 refreshed tokens", told)
	}
	mu.Unlock()
	if ents := dirEntries(t, dir); len(ents) != 2 {
		t.Errorf("run directory holds %q, want the token and config files only", ents)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("token file after Close: %v", err)
	}
}

// TestTokenFileRefreshFails: when the server stops minting (the phase has
// ended), the refresher retries while the token lives and then stops the
// phase with an error naming the configuration.
func TestTokenFileRefreshFails(t *testing.T) {
	clock := newSimClock(time.Hour)
	m := &expiringMinter{clock: clock, lifetime: 90 * time.Second, failAfter: 1}
	r, err := Prepare(context.Background(), Config{Dir: t.TempDir(), Run: testRun(), Minter: m, Now: clock.Now, After: clock.After,
		Env: map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	err = r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "TFC_AWS_PROVIDER_AUTH") || !strings.Contains(err.Error(), "expired unrefreshed") {
		t.Fatalf("Start: %v", err)
	}
	if now := clock.Now(); now.Before(time.Unix(1_800_000_000, 0).Add(90 * time.Second)) {
		t.Fatalf("gave up at %v, before the token expired", now)
	}
}

// TestNoRefreshWithoutExpiry: a Minter that does not say when its tokens
// expire leaves the files as they are.
func TestNoRefreshWithoutExpiry(t *testing.T) {
	m := &countingMinter{}
	r, _, err := prepare(t, map[string]string{"TFC_AWS_PROVIDER_AUTH": "true", "TFC_AWS_RUN_ROLE_ARN": "arn:aws:iam::1:role/x"}, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.nextRenewal(); ok {
		t.Fatal("a renewal is scheduled for a token of unknown expiry")
	}
}
