package main

// End-to-end tests of the real binary: TestMain builds cmd/runcred once, and
// every test drives it as an operator would, as subprocesses on 127.0.0.1,
// stopping servers with Ctrl-C (SIGINT).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/peers/tools"

	"github.com/coreos/go-oidc/v3/oidc"
	_ "modernc.org/sqlite" // registers "sqlite" for inspecting the server's database

	"github.com/runcred/runcred/internal/store/storetest"
)

// binary is the runcred executable TestMain builds.
var binary string

func TestMain(m *testing.M) { os.Exit(buildAndRun(m)) }

func buildAndRun(m *testing.M) int {
	root, err := tools.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "runcred-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "runcred")
	build := exec.Command("go", "build", "-o", binary, "./cmd/runcred")
	build.Dir = root
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/runcred: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// childEnv is the test's environment without RUNCRED_* variables (so a
// developer's shell cannot change what a test sees), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNCRED_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

// exec runs runcred to completion; it is safe to call from any goroutine.
func execRuncred(env []string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = childEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		return res, fmt.Errorf("runcred %s: %w", strings.Join(args, " "), err)
	}
	return res, nil
}

func runcred(t *testing.T, env []string, args ...string) result {
	t.Helper()
	res, err := execRuncred(env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ok runs runcred and fails t unless it exits 0.
func ok(t *testing.T, env []string, args ...string) string {
	t.Helper()
	res := runcred(t, env, args...)
	if res.code != 0 {
		t.Fatalf("runcred %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

// usedPorts keeps freeAddr from handing one port to two parallel tests.
var usedPorts sync.Map

// freeAddr picks a port the kernel reports free on 127.0.0.1.
func freeAddr(t *testing.T) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if _, taken := usedPorts.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// server is a runcred server or dev process.
type server struct {
	url            string // http://<addr>
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
	code           int // exit code, once done is closed
}

// spawn starts runcred with args; addr is where it is expected to listen.
// The process is killed when t ends if the test did not stop it.
func spawn(t *testing.T, addr string, env []string, args ...string) *server {
	t.Helper()
	s := &server{url: "http://" + addr, done: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Env = childEnv(env...)
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("runcred %s (%s) stderr:\n%s", args[0], addr, s.stderr.String())
		}
	})
	return s
}

// Bounds on a child process, generous because a loaded machine is slow:
// a process that never gets there still fails, only later.
const (
	readyTimeout = time.Minute // from start to /readyz answering 200
	exitTimeout  = time.Minute // from SIGINT, or a refused start, to exit
)

// startServer spawns runcred and waits until GET /readyz answers 200.
func startServer(t *testing.T, addr string, env []string, args ...string) *server {
	t.Helper()
	s := spawn(t, addr, env, args...)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("runcred %s exited with %d before it was ready:\n%s", strings.Join(args, " "), s.code, s.stderr.String())
		default:
		}
		if resp, err := client.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("runcred %s: /readyz not 200 within %s:\n%s", strings.Join(args, " "), readyTimeout, s.stderr.String())
	return nil
}

// waitExit waits at most d for the process to end and returns its exit code.
func (s *server) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(d):
		t.Fatalf("runcred still running after %s:\n%s", d, s.stderr.String())
		return -1
	}
}

// stop sends Ctrl-C and expects a clean exit 0.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	if code := s.waitExit(t, exitTimeout); code != 0 {
		t.Fatalf("runcred exited with %d after SIGINT, want 0:\n%s", code, s.stderr.String())
	}
}

const audience = "https://e2e.runcred.test"

// mintArgs are valid flags for identity mint, with some replaced.
func mintArgs(replace ...string) []string {
	flags := map[string]string{
		"--org": "demo", "--project": "Default Project", "--workspace": "ws1",
		"--run": "run-e2e1", "--phase": "plan", "--audience": audience,
	}
	for i := 0; i+1 < len(replace); i += 2 {
		flags[replace[i]] = replace[i+1]
	}
	args := []string{"identity", "mint"}
	for _, f := range slices.Sorted(maps.Keys(flags)) {
		args = append(args, f+"="+flags[f])
	}
	return args
}

// jwtKID returns the kid in a compact JWT's header; it fails t unless the
// token has three non-empty dot-separated parts.
func jwtKID(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		t.Fatalf("not a compact JWT (3 non-empty dot-separated parts): %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("JWT header %s: %v", raw, err)
	}
	if h.Alg != "RS256" || h.Kid == "" {
		t.Fatalf("JWT header %s: want alg RS256 and a kid", raw)
	}
	return h.Kid
}

// keys runs identity keys and returns kid → state.
func keys(t *testing.T, env []string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(ok(t, env, "identity", "keys")), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "KID") {
		t.Fatalf("identity keys printed no table: %q", lines)
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 5 {
			t.Fatalf("identity keys row %q: want 5 columns", l)
		}
		out[f[0]] = f[1]
	}
	return out
}

func kidOf(t *testing.T, ks map[string]string, state string) string {
	t.Helper()
	for kid, s := range ks {
		if s == state {
			return kid
		}
	}
	t.Fatalf("no %s key in %v", state, ks)
	return ""
}

// jwksKIDs fetches the published key ids, sorted.
func jwksKIDs(url string) ([]string, error) {
	resp, err := http.Get(url + "/.well-known/jwks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /.well-known/jwks: %s", resp.Status)
	}
	var set struct{ Keys []struct{ Kid string } }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids, nil
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		t.Fatalf("%s is empty", path)
	}
	return tok
}

func TestDevKeepsTokenAndKeysAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state", "dev") // does not exist yet
	addr := freeAddr(t)
	// The shell dev's own hint sets up exports RUNCRED_ADDR as a URL for the
	// clients; the server must not read it as its listen address.
	// The listen address comes from RUNCRED_LISTEN_ADDR here, not --addr.
	dev := startServer(t, addr, []string{"RUNCRED_ADDR=http://" + addr, "RUNCRED_LISTEN_ADDR=" + addr}, "dev", "--data-dir", dir)

	checkMode(t, dir, fs.ModeDir|0o700)
	tokenFile := filepath.Join(dir, "root-token")
	checkMode(t, tokenFile, 0o600)
	checkMode(t, filepath.Join(dir, "root-key"), 0o600)
	tok := readToken(t, tokenFile)
	env := []string{"RUNCRED_ADDR=" + dev.url, "RUNCRED_TOKEN=" + tok}

	jwt := strings.TrimSpace(ok(t, env, mintArgs()...))
	if strings.Contains(jwt, "\n") {
		t.Fatalf("mint printed more than the token: %q", jwt)
	}
	kid := jwtKID(t, jwt)
	before := keys(t, env)
	if len(before) != 2 || before[kid] != "current" || kidOf(t, before, "next") == kid {
		t.Fatalf("keys after first start = %v, want a current key %s and a next key", before, kid)
	}
	dev.stop(t)
	for _, want := range []string{"Root token: " + tokenFile, "Issuer:     " + dev.url} {
		if !strings.Contains(dev.stdout.String(), want) {
			t.Errorf("dev stdout lacks %q:\n%s", want, dev.stdout.String())
		}
	}

	dev = startServer(t, addr, nil, "dev", "--data-dir", dir, "--addr", addr)
	if got := readToken(t, tokenFile); got != tok {
		t.Errorf("restart replaced a valid root token")
	}
	if after := keys(t, env); !mapsEqual(after, before) { // also proves the old token still works
		t.Errorf("keys after restart = %v, want %v", after, before)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, dev.url)
	if err != nil {
		t.Fatalf("discovery at %s: %v", dev.url, err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, jwt)
	if err != nil {
		t.Fatalf("token minted before the restart does not verify: %v", err)
	}
	const wantSub = "organization:demo:project:Default Project:workspace:ws1:run_phase:plan"
	if idt.Subject != wantSub {
		t.Errorf("sub = %q, want %q", idt.Subject, wantSub)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: "sts.amazonaws.com"}).Verify(ctx, jwt); err == nil {
		t.Errorf("token verified for an audience it was not minted for")
	}
	dev.stop(t)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// generateRootKey runs seal generate-root-key and returns the key's id.
func generateRootKey(t *testing.T, path string) string {
	t.Helper()
	out := ok(t, nil, "seal", "generate-root-key", path)
	m := regexp.MustCompile(`^wrote root key ([0-9a-f]{16}) to (.+)\n$`).FindStringSubmatch(out)
	if m == nil || m[2] != path {
		t.Fatalf("generate-root-key printed %q", out)
	}
	checkMode(t, path, 0o600)
	return m[1]
}

// snapshot reads every row of runcred's tables, read-only.
func snapshot(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]string{}
	for _, table := range []string{"seal_keys", "secrets", "keyring", "audit_log", "tokens"} {
		rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1")
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprintf("%x", vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(out[table]) == 0 {
			t.Fatalf("table %s is empty; the snapshot would prove nothing", table)
		}
	}
	return out
}

func TestWrongRootKeyRefusesToStartAndChangesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, k2 := filepath.Join(dir, "k1"), filepath.Join(dir, "k2")
	id1, id2 := generateRootKey(t, k1), generateRootKey(t, k2)
	if id1 == id2 {
		t.Fatalf("two generated root keys share id %s", id1)
	}
	if res := runcred(t, nil, "seal", "generate-root-key", k1); res.code == 0 {
		t.Errorf("generate-root-key overwrote an existing key file")
	}
	db, tokenFile := filepath.Join(dir, "runcred.db"), filepath.Join(dir, "root-token")
	args := func(key, addr string) []string {
		return []string{"server", "--database", db, "--root-key-file", key, "--root-token-file", tokenFile, "--addr", addr}
	}

	addr := freeAddr(t)
	srv := startServer(t, addr, nil, args(k1, addr)...)
	env := []string{"RUNCRED_ADDR=" + srv.url, "RUNCRED_TOKEN=" + readToken(t, tokenFile)}
	ok(t, env, mintArgs()...)
	srv.stop(t)
	before := snapshot(t, db)

	start := time.Now()
	bad := spawn(t, addr, nil, args(k2, addr)...)
	if code := bad.waitExit(t, exitTimeout); code == 0 {
		t.Fatalf("server started with the wrong root key")
	}
	t.Logf("wrong root key: exit after %s", time.Since(start).Round(time.Millisecond))
	stderr := bad.stderr.String()
	for _, want := range []string{"root key", id1, id2} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr of a start with the wrong root key lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "runcred listening") {
		t.Errorf("server listened with the wrong root key:\n%s", stderr)
	}
	after := snapshot(t, db)
	for table, rows := range before {
		if !slices.Equal(rows, after[table]) {
			t.Errorf("table %s changed by a start with the wrong root key:\nbefore %q\nafter  %q", table, rows, after[table])
		}
	}

	srv = startServer(t, addr, nil, args(k1, addr)...)
	ok(t, env, mintArgs()...)
	srv.stop(t)
}

func TestMintRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	addr := freeAddr(t)
	dev := startServer(t, addr, nil, "dev", "--data-dir", dir, "--addr", addr)
	tok := readToken(t, filepath.Join(dir, "root-token"))
	env := []string{"RUNCRED_ADDR=" + dev.url, "RUNCRED_TOKEN=" + tok}

	ws90 := strings.Repeat("w", 90)
	for _, args := range [][]string{mintArgs(), mintArgs("--workspace", ws90), mintArgs("--phase", "apply", "--ttl", "2h")} {
		jwtKID(t, strings.TrimSpace(ok(t, env, args...)))
	}

	cases := []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"unknown phase", env, mintArgs("--phase", "destroy"), 2,
			`run phase must be "plan" or "apply", got "destroy" (HTTP 400)`},
		{"empty org", env, mintArgs("--org", ""), 2,
			`organization name is required (HTTP 400)`},
		{"91-char workspace", env, mintArgs("--workspace", ws90+"w"), 2,
			`workspace name is longer than 90 characters (HTTP 400)`},
		{"colon in workspace", env, mintArgs("--workspace", "ws1:project:other"), 2,
			`workspace name "ws1:project:other" may hold only letters, digits, '-' and '_' (HTTP 400)`},
		{"colon in project", env, mintArgs("--project", "a:b"), 2,
			`project name "a:b" may hold only letters, digits, '-', '_' and inner spaces (HTTP 400)`},
		{"two audiences", env, append(mintArgs(), "--audience", "sts.amazonaws.com"), 2,
			`exactly one --audience is required (a token carries a single audience), got 2`},
		{"comma audience", env, mintArgs("--audience", "a,b"), 2,
			`audience must be a single value without spaces, commas or control characters (HTTP 400)`},
		{"ttl over max", env, mintArgs("--ttl", "99h"), 2,
			`ttl 99h0m0s exceeds the maximum token lifetime 2h0m0s (HTTP 400)`},
		{"unknown flag", env, append(mintArgs(), "--bogus"), 2,
			`unknown flag: --bogus`},
		{"stray argument", env, append(mintArgs(), "extra"), 2,
			`unknown command "extra" for "runcred identity mint"`},
		{"missing token", []string{"RUNCRED_ADDR=" + dev.url}, mintArgs(), 1,
			`missing client token (HTTP 401)`},
		{"wrong token", []string{"RUNCRED_ADDR=" + dev.url, "RUNCRED_TOKEN=" + tok + "x"}, mintArgs(), 1,
			`permission denied (HTTP 401)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runcred(t, c.env, c.args...)
			if res.code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", res.code, c.code, res.stderr)
			}
			if want := "runcred: " + c.msg + "\n"; res.stderr != want {
				t.Errorf("stderr = %q, want the one line %q", res.stderr, want)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
		})
	}
	dev.stop(t)
}

var rotateOut = regexp.MustCompile(`(?m)^current: (\S+)\nnext:    (\S+)$`)

func TestConcurrentRotationOnTwoNodes(t *testing.T) {
	t.Parallel()
	if os.Getenv(storetest.PostgresEnv) == "" {
		t.Skipf("%s is not set; two nodes need a shared PostgreSQL database", storetest.PostgresEnv)
	}
	dsn := storetest.PostgresURL(t)
	dir := t.TempDir()
	key, tokenFile := filepath.Join(dir, "root-key"), filepath.Join(dir, "root-token")
	generateRootKey(t, key)
	addr1, addr2 := freeAddr(t), freeAddr(t)
	issuer := "http://" + addr1
	// The lead leaves a loaded machine time to start a CLI before the
	// early rotation below, which must come within it.
	common := []string{"server", "--database", dsn, "--root-key-file", key, "--public-url", issuer,
		"--publish-lead", "10s", "--refresh-interval", "500ms"}

	n1 := startServer(t, addr1, nil, append(common, "--addr", addr1, "--root-token-file", tokenFile)...)
	tok := readToken(t, tokenFile)
	env1 := []string{"RUNCRED_ADDR=" + n1.url, "RUNCRED_TOKEN=" + tok}

	// Before the next key has been published for --publish-lead, a forced
	// rotation is refused, naming when it becomes possible.
	res := runcred(t, env1, "identity", "rotate")
	possibleFrom := tooEarly(t, res)

	n2 := startServer(t, addr2, nil, append(common, "--addr", addr2)...)
	env2 := []string{"RUNCRED_ADDR=" + n2.url, "RUNCRED_TOKEN=" + tok}
	before := keys(t, env2) // the root token works on the second node too
	oldCur, oldNext := kidOf(t, before, "current"), kidOf(t, before, "next")
	j1, err1 := jwksKIDs(n1.url)
	j2, err2 := jwksKIDs(n2.url)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	want := []string{oldCur, oldNext}
	slices.Sort(want)
	if !slices.Equal(j1, want) || !slices.Equal(j2, want) {
		t.Fatalf("JWKS kids: node1 %v, node2 %v, want both %v", j1, j2, want)
	}

	// The refusal names a time truncated to the second: from a second
	// later, rotation is possible.
	time.Sleep(time.Until(possibleFrom.Add(time.Second)))
	var (
		wg      sync.WaitGroup
		gate    = make(chan struct{})
		results [2]result
		errs    [2]error
	)
	for i, env := range [][]string{env1, env2} {
		wg.Go(func() {
			<-gate
			results[i], errs[i] = execRuncred(env, "identity", "rotate")
		})
	}
	close(gate)
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	// Exactly one rotation wins. The other either overlapped it (and says
	// so) or came after it, when the key the winner just made is too new to
	// promote: the documented 409, since rotating again would retire the
	// key every token was just switched to.
	won, concurrent, refused := 0, 0, 0
	for i, r := range results {
		if r.code != 0 {
			// Refused for the key the winner made, not for an older one.
			if at := tooEarly(t, r); !at.After(possibleFrom) {
				t.Errorf("rotate on node %d refused until %s, not for a key newer than the one promotable from %s", i+1, at, possibleFrom)
			}
			refused++
			continue
		}
		if strings.Contains(r.stdout, "another node rotated at the same moment") {
			concurrent++
		} else {
			won++
			if !strings.Contains(r.stdout, "retired: "+oldCur+" ") {
				t.Errorf("winning rotate on node %d does not name the retired key %s:\n%s", i+1, oldCur, r.stdout)
			}
		}
		m := rotateOut.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("rotate on node %d printed %q", i+1, r.stdout)
		}
		if m[1] != oldNext {
			t.Errorf("current after rotate on node %d: %s, want the old next key %s", i+1, m[1], oldNext)
		}
	}
	if won != 1 || concurrent+refused != 1 {
		t.Fatalf("of 2 rotations %d won, %d said concurrent and %d were refused; want exactly 1 winner:\n%+v\n%+v", won, concurrent, refused, results[0], results[1])
	}
	if refused == 1 {
		t.Log("the other rotation came after the winner's and was refused as too early")
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		j1, err1 = jwksKIDs(n1.url)
		j2, err2 = jwksKIDs(n2.url)
		if errors.Join(err1, err2) == nil && len(j1) == 3 && slices.Equal(j1, j2) {
			want = j1
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JWKS did not converge on 3 kids within 30s: node1 %v (%v), node2 %v (%v)", j1, err1, j2, err2)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !slices.Contains(want, oldCur) || !slices.Contains(want, oldNext) {
		t.Errorf("JWKS after rotation %v lacks the retired %s or the promoted %s", want, oldCur, oldNext)
	}
	if ks := keys(t, env1); len(ks) != 3 || ks[oldCur] != "retired" || ks[oldNext] != "current" {
		t.Errorf("keys after rotation = %v, want %s retired, %s current and one next", ks, oldCur, oldNext)
	}
	for i, env := range [][]string{env1, env2} {
		out := ok(t, env, append(mintArgs(), "--json")...)
		var m struct{ Token, Kid string }
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("mint --json: %v: %q", err, out)
		}
		if kid := jwtKID(t, m.Token); kid != oldNext || m.Kid != oldNext {
			t.Errorf("token minted on node %d has header kid %s (reported %s), want the new current key %s", i+1, kid, m.Kid, oldNext)
		}
	}
	rotations := 0
	for _, l := range strings.Split(ok(t, env2, "audit", "tail", "-n", "50"), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "identity.rotate" {
			rotations++
		}
	}
	if rotations != 1 {
		t.Errorf("audit log holds %d identity.rotate records, want 1", rotations)
	}
	n1.stop(t)
	n2.stop(t)
}

// tooEarly fails t unless res is identity rotate's refusal of a next key
// published too recently (exit 1, HTTP 409), and returns the time the
// refusal names as the earliest rotation.
func tooEarly(t *testing.T, res result) time.Time {
	t.Helper()
	m := possibleFromOut.FindStringSubmatch(res.stderr)
	if res.code != 1 || m == nil || !strings.Contains(res.stderr, "(HTTP 409)") {
		t.Fatalf("rotate: exit %d, stderr %q; want 1 and a 409 naming when rotation is possible", res.code, res.stderr)
	}
	at, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatalf("rotate named %q: %v", m[1], err)
	}
	return at
}

var possibleFromOut = regexp.MustCompile(`rotation is possible from (\S+?)[\s")]`)

func TestAuditVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, db, tokenFile := filepath.Join(dir, "root-key"), filepath.Join(dir, "runcred.db"), filepath.Join(dir, "root-token")
	generateRootKey(t, key)
	addr := freeAddr(t)
	args := []string{"server", "--database", db, "--root-key-file", key, "--root-token-file", tokenFile, "--addr", addr}
	srv := startServer(t, addr, nil, args...)
	env := []string{"RUNCRED_ADDR=" + srv.url, "RUNCRED_TOKEN=" + readToken(t, tokenFile)}

	var jtis []string
	for _, run := range []string{"run-a1", "run-a2", "run-a3"} {
		var m struct{ JTI string }
		if err := json.Unmarshal([]byte(ok(t, env, append(mintArgs("--run", run), "--json")...)), &m); err != nil || m.JTI == "" {
			t.Fatalf("mint --json: jti %q, %v", m.JTI, err)
		}
		jtis = append(jtis, m.JTI)
	}
	intact := regexp.MustCompile(`^audit chain intact: (\d+) records, head [0-9a-f]{64}\n$`)
	out := ok(t, env, "audit", "verify")
	if m := intact.FindStringSubmatch(out); m == nil {
		t.Fatalf("audit verify printed %q", out)
	} else if n, _ := strconv.Atoi(m[1]); n < 4 { // root token creation + 3 mints
		t.Errorf("audit verify read %d records, want at least 4", n)
	}

	lines := strings.Split(strings.TrimSpace(ok(t, env, "audit", "tail", "-n", "5")), "\n")
	if len(lines) < 4 || len(lines) > 5 {
		t.Fatalf("audit tail -n 5 printed %d lines, want 4 or 5:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	mintSeq := map[string]int64{} // jti → seq
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 || f[2] != "identity.mint" {
			continue
		}
		for _, jti := range jtis {
			if strings.Contains(l, `"jti":"`+jti+`"`) {
				mintSeq[jti], _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	if len(mintSeq) != 3 {
		t.Fatalf("audit tail shows identity.mint records for %d of the 3 minted jtis:\n%s", len(mintSeq), strings.Join(lines, "\n"))
	}
	srv.stop(t)

	victim := mintSeq[jtis[1]]
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sdb.Exec(`UPDATE audit_log SET body = replace(body, '"run-a2"', '"run-zz"') WHERE seq = ?`, victim)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		t.Fatalf("tampering updated %d rows, want 1", n)
	}
	var body string
	if err := sdb.QueryRow(`SELECT body FROM audit_log WHERE seq = ?`, victim).Scan(&body); err != nil || !strings.Contains(body, "run-zz") {
		t.Fatalf("tampered body %q, %v", body, err)
	}
	sdb.Close()

	srv = startServer(t, addr, nil, args...)
	res := runcred(t, env, "audit", "verify")
	want := fmt.Sprintf("runcred: audit chain broken at record %d: record %d's hash does not match its contents", victim, victim)
	if res.code == 0 || !strings.HasPrefix(res.stderr, want) {
		t.Errorf("audit verify after tampering: exit %d, stderr %q; want non-zero and %q", res.code, res.stderr, want)
	}
	srv.stop(t)
}

func TestServerConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "root-key")
	generateRootKey(t, key)
	fileDB, envDB := filepath.Join(dir, "from-file.db"), filepath.Join(dir, "from-env.db")
	addr := freeAddr(t)
	writeConfig := func(name, extra string) string {
		path := filepath.Join(dir, name)
		hcl := fmt.Sprintf("# runcred server settings\ndatabase = %q\nroot_key_file = %q\naddr = %q\n%s", fileDB, key, addr, extra)
		if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := writeConfig("good.hcl", "")

	srv := startServer(t, addr, nil, "server", "--config", good)
	srv.stop(t) // the log is complete once the process has exited
	if !strings.Contains(srv.stderr.String(), "database=sqlite:"+fileDB) {
		t.Errorf("server log does not name the configured database %s:\n%s", fileDB, srv.stderr.String())
	}
	if _, err := os.Stat(fileDB); err != nil {
		t.Errorf("database from the config file was not created: %v", err)
	}

	bad := writeConfig("bad.hcl", `databse = "typo.db"`+"\n")
	refused := spawn(t, addr, nil, "server", "--config", bad)
	code := refused.waitExit(t, exitTimeout) // a server that starts anyway fails here, not at a timeout
	if want := fmt.Sprintf("runcred: config file %s: unknown setting \"databse\"\n", bad); code != 2 || refused.stderr.String() != want {
		t.Errorf("unknown key: exit %d, stderr %q; want 2 and %q", code, refused.stderr.String(), want)
	}

	srv = startServer(t, addr, []string{"RUNCRED_DATABASE=" + envDB}, "server", "--config", good)
	srv.stop(t)
	if !strings.Contains(srv.stderr.String(), "database=sqlite:"+envDB) {
		t.Errorf("RUNCRED_DATABASE did not override the config file:\n%s", srv.stderr.String())
	}
	if _, err := os.Stat(envDB); err != nil {
		t.Errorf("database from RUNCRED_DATABASE was not created: %v", err)
	}
}
