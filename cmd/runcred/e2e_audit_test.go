package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/audit"
	"github.com/runcred/runcred/internal/secret"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestCrashDuringAuditedBurst kills the server (SIGKILL) while eight clients
// write secrets, each to a path of its own, so a request is known by its
// path even when it got no answer. Afterwards: every write that was
// answered has its request and response records in the chain; records
// exist only for writes that were sent, and for writes sent but not
// answered only as many as were in flight (one per client); the chain
// verifies, and every answered write is there after a restart. On every
// database the suite has (SQLite always, PostgreSQL when configured).
func TestCrashDuringAuditedBurst(t *testing.T) {
	t.Parallel()
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			key, tokenFile := filepath.Join(dir, "root-key"), filepath.Join(dir, "root-token")
			generateRootKey(t, key)
			dsn := be.NewURL(t)
			addr := freeAddr(t)
			crashDuringAuditedBurst(t, dsn, tokenFile, func() *server {
				return startServer(t, addr, nil, "server", "--database", dsn, "--root-key-file", key, "--root-token-file", tokenFile, "--addr", addr)
			})
		})
	}
}

func crashDuringAuditedBurst(t *testing.T, dsn, tokenFile string, start func() *server) {
	srv := start()
	tok := readToken(t, tokenFile)
	client := func() *vault.Client {
		cfg := vault.DefaultConfig()
		cfg.Address, cfg.MaxRetries, cfg.Timeout = srv.url, 0, 30*time.Second
		c, err := vault.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(tok)
		return c
	}
	if err := client().Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}

	const clients = 8
	var mu sync.Mutex
	sent, answered := map[string]bool{}, map[string]bool{}
	var wg sync.WaitGroup
	for g := range clients {
		c := client()
		wg.Go(func() {
			for i := 0; ; i++ {
				path := fmt.Sprintf("burst/%d-%d", g, i)
				mu.Lock()
				sent["secret/data/"+path] = true
				mu.Unlock()
				if _, err := c.KVv2("secret").Put(context.Background(), path, map[string]any{"v": path}); err != nil {
					return // the server is gone
				}
				mu.Lock()
				answered["secret/data/"+path] = true
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes answered in a minute", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	wg.Wait()

	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(db, secret.FromString("unused: records are only read"), nil)
	kinds := map[string]map[string]bool{}
	for after := int64(0); ; {
		recs, err := log.List(context.Background(), after, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			after = r.Seq
			var body struct{ Request struct{ Path string } }
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			if p := body.Request.Path; strings.HasPrefix(p, "secret/data/burst/") {
				if kinds[p] == nil {
					kinds[p] = map[string]bool{}
				}
				kinds[p][r.Type] = true
			}
		}
	}
	rep, err := log.Verify(context.Background())
	if err != nil || rep.Broken != nil {
		t.Fatalf("verify after the crash: %+v, %v", rep.Broken, err)
	}
	db.Close()
	for p := range answered {
		if k := kinds[p]; !k["broker.request"] || !k["broker.response"] {
			t.Errorf("answered write %s has records %v, want its request and response", p, k)
		}
	}
	inFlight := 0
	for p, k := range kinds {
		if !sent[p] {
			t.Errorf("records %v for %s, which no client sent", k, p)
		}
		if k["broker.response"] && !k["broker.request"] {
			t.Errorf("%s has a response record and no request record", p)
		}
		if !answered[p] {
			inFlight++
		}
	}
	if inFlight > clients {
		t.Errorf("%d unanswered writes have records; at most %d were in flight", inFlight, clients)
	}
	t.Logf("%d writes sent, %d answered, %d with records in a verified chain of %d; %d unanswered writes (in flight at the kill) have records",
		len(sent), len(answered), len(kinds), rep.Records, inFlight)

	srv = start()
	cli := []string{"RUNCRED_ADDR=" + srv.url, "RUNCRED_TOKEN=" + tok}
	if out := ok(t, cli, "audit", "verify"); !strings.HasPrefix(out, "audit chain intact") {
		t.Fatalf("audit verify: %s", out)
	}
	c := client()
	for p := range answered {
		sec, err := c.Logical().Read(p)
		if err != nil || sec == nil {
			t.Fatalf("answered write %s lost after the crash: %v", p, err)
		}
	}
	srv.stop(t)
}
