package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestAuditDownDuringBurst: eight clients read a secret while the audit log
// stops taking records. From the moment it does, no client gets the secret;
// every read that was answered before has its request and response records
// (matched by request id) in a chain that verifies.
func TestAuditDownDuringBurst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := start(t, db, options{})
		if err := s.Client.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatal(err)
		}
		value := rand.Text()
		if _, err := s.Client.KVv2("secret").Put(ctx, "app", map[string]any{"password": value}); err != nil {
			t.Fatal(err)
		}

		var down atomic.Bool
		var mu sync.Mutex
		var answered []string // request ids of reads that got the secret
		var got, late, refused atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := down.Load()
					sec, err := s.Client.Logical().Read("secret/data/app")
					if err != nil {
						if after {
							refused.Add(1)
						}
						continue
					}
					data, _ := sec.Data["data"].(map[string]any)
					if data["password"] != value {
						t.Errorf("read answered without the secret: %v", sec.Data)
						continue
					}
					if after {
						late.Add(1)
					}
					got.Add(1)
					mu.Lock()
					answered = append(answered, sec.RequestID)
					mu.Unlock()
				}
			})
		}
		waitUntil(t, func() bool { return got.Load() >= 100 })
		refuseInserts(t, db, "audit_log", "")
		down.Store(true)
		waitUntil(t, func() bool { return refused.Load() >= 200 })
		close(stop)
		wg.Wait()
		if n := late.Load(); n != 0 {
			t.Fatalf("%d reads started after the audit log went down got the secret", n)
		}

		kinds := recordsByRequestID(t, s)
		for _, id := range answered {
			if k := kinds[id]; !k["broker.request"] || !k["broker.response"] {
				t.Errorf("answered read %s has records %v, want its request and response", id, k)
			}
		}
		if rep, err := s.Audit.Verify(ctx); err != nil || rep.Broken != nil {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		t.Logf("%d reads answered before the log went down, %d refused after", len(answered), refused.Load())
	})
}

// recordsByRequestID reads the whole log: the broker record types stored
// for each request id.
func recordsByRequestID(t *testing.T, s *server) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for after := int64(0); ; {
		recs, err := s.Audit.List(context.Background(), after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			after = r.Seq
			var body struct{ Request struct{ ID string } }
			if err := json.Unmarshal(r.Body, &body); err != nil || body.Request.ID == "" {
				continue
			}
			if out[body.Request.ID] == nil {
				out[body.Request.ID] = map[string]bool{}
			}
			out[body.Request.ID][r.Type] = true
		}
	}
}

// waitUntil polls cond until it holds, failing the test after a minute.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}
