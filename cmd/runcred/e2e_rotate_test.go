package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// TestKillMidRotation: a server SIGKILLed in the middle of a mount rotation
// finishes it when it starts again, to one consistent state: every key at
// the new path, the policy naming it alone, the old path 404, one mount.
// It is killed during the copy (before the commit point) on both
// databases, and on PostgreSQL also after the policies were rewritten,
// held there by a lock on the variables' table.
func TestKillMidRotation(t *testing.T) {
	t.Parallel()
	type kase struct {
		name, db string
		at       string // the journal state to kill in
		lock     string // a table the test locks so the rotation waits in at
	}
	cases := []kase{{name: "sqlite during the copy", db: "sqlite", at: "created"}}
	if os.Getenv(storetest.PostgresEnv) != "" {
		cases = append(cases, kase{name: "postgres during the copy", db: "postgres", at: "created"},
			kase{name: "postgres after the commit point", db: "postgres", at: "policies", lock: "workspace_variables"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			key, tokenFile := filepath.Join(dir, "root-key"), filepath.Join(dir, "root-token")
			generateRootKey(t, key)
			dsn := filepath.Join(dir, "runcred.db")
			if c.db == "postgres" {
				dsn = storetest.PostgresURL(t)
			}
			addr := freeAddr(t)
			args := []string{"server", "--database", dsn, "--root-key-file", key, "--root-token-file", tokenFile,
				"--addr", addr, "--rotation-claim", "1s", "--refresh-interval", "500ms"}
			srv := startServer(t, addr, nil, args...)
			tok := readToken(t, tokenFile)
			vc := e2eVault(t, srv.url, tok)
			const mount, keys = "secret-ab12cd34", 300
			if err := vc.Sys().Mount(mount, &vault.MountInput{Type: "kv-v2"}); err != nil {
				t.Fatal(err)
			}
			for i := range keys {
				if _, err := vc.KVv2(mount).Put(context.Background(), fmt.Sprintf("k%03d", i), map[string]any{"v": fmt.Sprint(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := vc.Sys().PutPolicy("consumer", `path "secret-ab12cd34/data/*" { capabilities = ["read"] }`); err != nil {
				t.Fatal(err)
			}
			sec, err := vc.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"consumer"}})
			if err != nil {
				t.Fatal(err)
			}
			consumer := sec.Auth.ClientToken

			release := func() {}
			if c.lock != "" {
				db, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				locked, unlock, done := make(chan error, 1), make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					_ = db.Tx(context.Background(), func(tx *store.Tx) error {
						_, err := tx.Exec(context.Background(), "LOCK TABLE "+c.lock+" IN ACCESS EXCLUSIVE MODE")
						locked <- err
						<-unlock
						return nil
					})
				}()
				if err := <-locked; err != nil {
					t.Fatal(err)
				}
				release = func() { close(unlock); <-done; db.Close() }
				defer func() { release() }()
			}

			// Rotate in the background; the request dies with the server.
			go func() {
				req, _ := http.NewRequest("POST", srv.url+"/api/runcred/v1/mounts/"+mount+"/rotate", nil)
				req.Header.Set("X-Vault-Token", tok)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			deadline := time.Now().Add(time.Minute)
			for {
				if st := latestRotation(t, srv.url, tok, mount); st.State == c.at {
					break
				} else if st.State == "done" || time.Now().After(deadline) {
					t.Fatalf("the rotation is %q, never seen in %q", st.State, c.at)
				}
				time.Sleep(2 * time.Millisecond) // poll the journal
			}
			if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			srv.waitExit(t, exitTimeout)
			release()
			release = func() {}

			srv = startServer(t, addr, nil, args...)
			vc = e2eVault(t, srv.url, tok)
			var r e2eRotation
			deadline = time.Now().Add(time.Minute)
			for r = latestRotation(t, srv.url, tok, mount); r.State != "done"; r = latestRotation(t, srv.url, tok, mount) {
				if time.Now().After(deadline) || r.State == "rolled_back" {
					t.Fatalf("after the restart the rotation is %q: %s", r.State, r.Error)
				}
				time.Sleep(20 * time.Millisecond) // poll the journal
			}
			newMount := strings.TrimSuffix(r.NewPath, "/")
			mounts, err := vc.Sys().ListMounts()
			if err != nil {
				t.Fatal(err)
			}
			var kv []string
			for p, m := range mounts {
				if m.Type == "kv" {
					kv = append(kv, p)
				}
			}
			if len(kv) != 1 || kv[0] != r.NewPath {
				t.Fatalf("kv mounts after recovery %v, want only %s", kv, r.NewPath)
			}
			list, err := vc.Logical().List(newMount + "/metadata/")
			if err != nil || len(list.Data["keys"].([]any)) != keys {
				t.Fatalf("keys at the new path: %v %v", list, err)
			}
			cc := e2eVault(t, srv.url, consumer)
			for _, i := range []int{0, keys / 2, keys - 1} {
				s, err := cc.KVv2(newMount).Get(context.Background(), fmt.Sprintf("k%03d", i))
				if err != nil || s.Data["v"] != fmt.Sprint(i) {
					t.Fatalf("consumer reads k%03d at %s: %v %v", i, newMount, s, err)
				}
			}
			req, _ := http.NewRequest("GET", srv.url+"/v1/"+mount+"/data/k000", nil)
			req.Header.Set("X-Vault-Token", consumer)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("the old path after recovery: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			pol, err := vc.Sys().GetPolicy("consumer")
			if err != nil || strings.Contains(pol, mount) || !strings.Contains(pol, newMount+"/data/*") {
				t.Fatalf("policy after recovery: %q %v", pol, err)
			}
			if res := ok(t, []string{"RUNCRED_ADDR=" + srv.url, "RUNCRED_TOKEN=" + tok}, "mounts", "rotations", newMount); !strings.Contains(res, r.ID) || !strings.Contains(res, " done") {
				t.Errorf("runcred mounts rotations: %s", res)
			}
			srv.stop(t)
		})
	}
}

type e2eRotation struct {
	ID, State, Error string
	NewPath          string `json:"new_path"`
}

// latestRotation is the newest rotation of mount the API lists.
func latestRotation(t *testing.T, url, tok, mount string) e2eRotation {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/runcred/v1/mounts/"+mount+"/rotations", nil)
	req.Header.Set("X-Vault-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Rotations []e2eRotation }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list rotations: HTTP %d %v", resp.StatusCode, err)
	}
	if len(out.Rotations) == 0 {
		return e2eRotation{}
	}
	return out.Rotations[0]
}

func e2eVault(t *testing.T, url, tok string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.MaxRetries = url, 0
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}
