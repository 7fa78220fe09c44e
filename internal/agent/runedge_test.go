package agent_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/runcred/runcred/internal/agent"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
)

// sealed opens the server's seal, to write rows as an older runcred did.
func (w *world) sealed(t *testing.T) *seal.Seal {
	t.Helper()
	root, err := seal.LoadRootKey(filepath.Join(w.srv.Dir, "root-key"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.Open(context.Background(), w.srv.D.DB(), root)
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// forceVariable writes value into workspace variable key behind the API's
// back, as a row stored before the API refused such values.
func (w *world) forceVariable(t *testing.T, ws *tfe.Workspace, key, value string) {
	t.Helper()
	ctx := ctxT(t)
	vars, err := w.tfe.Variables.List(ctx, ws.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars.Items {
		if v.Key != key {
			continue
		}
		// The value's AAD, as the variable package binds it to its row.
		aad := "platform/workspace_variables/" + v.ID + "/" + ws.ID + "/" + string(v.Category) + "/" + v.Key
		b, err := w.sealed(t).Encrypt([]byte(value), aad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.srv.D.DB().Exec(ctx, `UPDATE workspace_variables SET value = ? WHERE id = ?`, b, v.ID); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no variable %s", key)
}

// TestRunEnvironmentStripped: variables that point OpenTofu outside the run
// directory are refused at write; when they arrive anyway (rows stored
// before the rule, a pre-plan hook's $TFC_AGENT_ENV), the agent strips
// them and says so by name, and a real OpenTofu plan neither reads the
// canary file (-var-file) nor writes a log outside the run directory. The
// plan shows TF_LOG=TRACE took effect, so the log path would have been
// honoured had it been kept.
func TestRunEnvironmentStripped(t *testing.T) {
	out := t.TempDir()
	canary := filepath.Join(out, "canary.tfvars")
	const canaryLine = "canary-line-48151623"
	if err := os.WriteFile(canary, []byte(canaryLine+" = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	traceOut, hookTraceOut := filepath.Join(out, "trace.log"), filepath.Join(out, "hook-trace.log")
	w := newWorld(t, map[string]string{"terraform-pre-plan": `#!/bin/sh
echo "TF_LOG_PATH=` + hookTraceOut + `" >> "$TFC_AGENT_ENV"
echo "TF_CLI_ARGS_plan=-var-file=` + canary + `" >> "$TFC_AGENT_ENV"
echo "LD_PRELOAD=/tmp/not-there.so" >> "$TFC_AGENT_ENV"
`}, nil)
	ctx := ctxT(t)

	probe := w.workspace(t, "refused", false, nil)
	for key, value := range map[string]string{"TF_CLI_ARGS_plan": "-var-file=" + canary, "TF_LOG_PATH": traceOut} {
		_, err := w.tfe.Variables.Create(ctx, probe.ID, tfe.VariableCreateOptions{Key: tfe.String(key), Value: tfe.String(value), Category: tfe.Category(tfe.CategoryEnv)})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("writing %s: %v, want a refusal naming it", key, err)
		}
	}

	ws := w.workspace(t, "stripped", false, map[string]string{"env:TF_LOG": "TRACE", "env:TF_CLI_ARGS_plan": "-no-color", "env:TF_LOG_PATH": "tofu.log"})
	w.forceVariable(t, ws, "TF_CLI_ARGS_plan", "-var-file="+canary)
	w.forceVariable(t, ws, "TF_LOG_PATH", traceOut)
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}` + "\n"})
	r := w.wait(t, w.start(t, ws).ID, tfe.RunPlanned)
	log := w.logs(t, r)
	if testing.Verbose() {
		for _, l := range strings.Split(log, "\n") {
			if !strings.Contains(l, "[TRACE]") && !strings.Contains(l, "[DEBUG]") && !strings.Contains(l, "[INFO]") {
				t.Log(l)
			}
		}
	}

	if strings.Contains(log, canaryLine) {
		t.Errorf("the canary file's line is in the log")
	}
	for _, want := range []string{
		"removed from the run's environment: environment variable TF_CLI_ARGS_plan is not allowed",
		"removed from the run's environment: environment variable TF_LOG_PATH is not allowed",
		"$TFC_AGENT_ENV: environment variable TF_LOG_PATH is not allowed",
		"$TFC_AGENT_ENV: environment variable TF_CLI_ARGS_plan is not allowed",
		"$TFC_AGENT_ENV: environment variable LD_PRELOAD is not allowed",
		"[TRACE]", // TF_LOG=TRACE reached OpenTofu
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(log, traceOut) || strings.Contains(log, "-var-file="+canary) {
		t.Error("the log shows a stripped variable's value")
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files outside the run directory: %v, want only the canary", names)
	}
}

// chainArchive is the report's archive: n symlinks, each to the one before,
// the first to main.tf.
func chainArchive(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	body := `resource "terraform_data" "x" {}` + "\n"
	tw.WriteHeader(&tar.Header{Name: "main.tf", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
	tw.Write([]byte(body))
	for i := range n {
		prev := "main.tf"
		if i > 0 {
			prev = fmt.Sprintf("l%d.tf", i-1)
		}
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l%d.tf", i), Linkname: prev, Typeflag: tar.TypeSymlink, Mode: 0o777})
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// TestSymlinkChainRun: the 3,000-link archive is refused at upload; stored
// anyway (as an older runcred accepted it), the agent ends its run errored,
// saying why, and the next run on the pool, behind it on an agent that
// runs one phase at a time, completes.
func TestSymlinkChainRun(t *testing.T) {
	w := newWorld(t, nil, func(c *agent.Config) { c.Concurrency = 1 })
	ctx := ctxT(t)
	chain := chainArchive(t, 3000)

	ws := w.workspace(t, "chain", false, nil)
	cv, err := w.tfe.ConfigurationVersions.Create(ctx, ws.ID, tfe.ConfigurationVersionCreateOptions{AutoQueueRuns: tfe.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.tfe.ConfigurationVersions.UploadTarGzip(ctx, cv.UploadURL, bytes.NewReader(chain)); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("upload of the link chain: %v, want 422", err)
	}
	b, err := w.sealed(t).Encrypt(chain, "platform/configuration_versions/"+cv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.srv.D.DB().Exec(ctx, `UPDATE configuration_versions SET status = 'uploaded', archive = ?, archive_size = ?, uploaded_at = ? WHERE id = ?`,
		b, len(chain), store.Nanos(time.Now()), cv.ID); err != nil {
		t.Fatal(err)
	}
	bad, err := w.tfe.Runs.Create(ctx, tfe.RunCreateOptions{Workspace: ws, ConfigurationVersion: cv})
	if err != nil {
		t.Fatal(err)
	}

	next := w.workspace(t, "next", false, nil)
	w.upload(t, next, map[string]string{"main.tf": `resource "terraform_data" "x" {}` + "\n"})
	good := w.start(t, next)

	r := w.wait(t, bad.ID, tfe.RunErrored)
	if log := w.logs(t, r); !strings.Contains(log, "follows more than 40 links") {
		t.Errorf("errored run's log does not say why:\n%s", log)
	}
	w.wait(t, good.ID, tfe.RunPlanned)
}

// hangingVault accepts connections and never answers; each accepted
// connection is sent on the returned channel, and closed on its own
// channel when the client hangs up.
func hangingVault(t *testing.T) (addr string, conns <-chan chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			gone := make(chan struct{})
			ch <- gone
			go func() {
				defer close(gone)
				defer c.Close()
				io.Copy(io.Discard, c) // until the client hangs up
			}()
		}
	}()
	return "http://" + ln.Addr().String(), ch
}

// within waits for ch, failing t after d.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing after %s", what, d)
		panic("unreachable")
	}
}

// waitStatus polls run id until it is want, for at most d.
func (w *world) waitStatus(t *testing.T, id string, want tfe.RunStatus, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r, err := w.tfe.Runs.Read(ctxT(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s after %s, want %s", id, r.Status, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCancelWhileFetchingCredentials: a phase stuck obtaining credentials
// (a Vault that never answers, through a client without a timeout, so only
// the cancel can end the request) stops on cancel and on force-cancel: the
// run ends canceled, the agent hangs up on Vault, and the next run on the
// one-phase-at-a-time agent completes.
func TestCancelWhileFetchingCredentials(t *testing.T) {
	vaultAddr, conns := hangingVault(t)
	w := newWorld(t, nil, func(c *agent.Config) { c.Concurrency, c.VaultClient = 1, &http.Client{} })
	w.allowVault(t, vaultAddr) // past the credential guard, to the hanging Vault
	ctx := ctxT(t)
	ws := w.workspace(t, "vaulthang", false, map[string]string{
		"env:TFC_VAULT_PROVIDER_AUTH": "true", "env:TFC_VAULT_ADDR": vaultAddr, "env:TFC_VAULT_RUN_ROLE": "r",
	})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}` + "\n"})

	r := w.start(t, ws)
	gone := within(t, conns, 2*time.Minute, "the agent's Vault login")
	if err := w.tfe.Runs.Cancel(ctx, r.ID, tfe.RunCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, gone, time.Minute, "the agent hanging up on Vault after a cancel")
	w.waitStatus(t, r.ID, tfe.RunCanceled, time.Minute)

	r = w.start(t, ws)
	gone = within(t, conns, 2*time.Minute, "the agent's second Vault login")
	if err := w.tfe.Runs.ForceCancel(ctx, r.ID, tfe.RunForceCancelOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, gone, time.Minute, "the agent hanging up on Vault after a force-cancel")

	next := w.workspace(t, "afterhang", false, nil)
	w.upload(t, next, map[string]string{"main.tf": `resource "terraform_data" "x" {}` + "\n"})
	w.wait(t, w.start(t, next).ID, tfe.RunPlanned)
}

// TestTimeLimitWhileFetchingCredentials: the phase's time limit bounds the
// whole job, not only OpenTofu: a phase stuck obtaining credentials ends
// errored, naming the limit, and the agent hangs up on Vault.
func TestTimeLimitWhileFetchingCredentials(t *testing.T) {
	vaultAddr, conns := hangingVault(t)
	w := newWorld(t, nil, func(c *agent.Config) { c.VaultClient, c.PhaseTimeout = &http.Client{}, 3*time.Second })
	w.allowVault(t, vaultAddr) // past the credential guard, to the hanging Vault
	ws := w.workspace(t, "vaultslow", false, map[string]string{
		"env:TFC_VAULT_PROVIDER_AUTH": "true", "env:TFC_VAULT_ADDR": vaultAddr, "env:TFC_VAULT_RUN_ROLE": "r",
	})
	w.upload(t, ws, map[string]string{"main.tf": `resource "terraform_data" "x" {}` + "\n"})
	r := w.start(t, ws)
	gone := within(t, conns, 2*time.Minute, "the agent's Vault login")
	within(t, gone, time.Minute, "the agent hanging up on Vault at the time limit")
	r = w.wait(t, r.ID, tfe.RunErrored)
	if log := w.logs(t, r); !strings.Contains(log, "ran past its time limit of 3s") {
		t.Errorf("log does not name the time limit:\n%s", log)
	}
}
