package daemon_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	jose "github.com/go-jose/go-jose/v4"
	vault "github.com/hashicorp/vault/api"

	"github.com/runcred/runcred/internal/peers/minio"
)

// Broker benchmarks, each with the baseline `make bench` compares it to:
//   jwt login   vs  verifying the same token's signature alone (go-jose)
//   AppRole login vs  jwt login (target: within 10%)
//   KV v2 read  vs  an unauthenticated, unaudited sys/health round trip
//   AWS creds   vs  the same AssumeRole sent straight to MinIO's STS
// Every broker request goes through token lookup, ACL, two audit appends and
// (for creds) a lease write. Each reports p50 and p99 latency.

// latencies collects per-operation durations and reports p50/p99.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) time(fn func()) {
	start := time.Now()
	fn()
	el := time.Since(start)
	l.mu.Lock()
	l.d = append(l.d, el)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	pct := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// cpuTime is the CPU time, user and system, the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since start per operation: server and
// client together, as both run in this process.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// runConc runs op at concurrency 1 and 8, recording latencies and CPU time.
func runConc(b *testing.B, op func() error) {
	b.Run("c1", func(b *testing.B) {
		var l latencies
		cpu := cpuTime()
		defer reportCPU(b, cpu)
		for b.Loop() {
			l.time(func() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			})
		}
		l.report(b)
	})
	b.Run("c8", func(b *testing.B) {
		var l latencies
		cpu := cpuTime()
		defer reportCPU(b, cpu)
		b.SetParallelism(parallelism())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.time(func() {
					if err := op(); err != nil {
						b.Error(err)
					}
				})
			}
		})
		l.report(b)
	})
}

func benchClient(b *testing.B, n *node, tok string) *vault.Client {
	cfg := vault.DefaultConfig()
	cfg.Address = n.d.URL()
	cfg.MaxRetries = 0
	cfg.HttpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	c, err := vault.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// jwtSetup enables jwt auth against the node's own issuer and returns a
// run token that logs in to role "bench".
func jwtSetup(b *testing.B, n *node) string {
	root := benchClient(b, n, n.token)
	if err := root.Sys().EnableAuthWithOptions("jwt", &vault.EnableAuthOptions{Type: "jwt"}); err != nil {
		b.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"auth/jwt/config": {"oidc_discovery_url": n.d.PublicURL()},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := root.Logical().Write("auth/jwt/role/bench", map[string]any{"role_type": "jwt", "bound_audiences": vaultAud,
		"user_claim": "terraform_full_workspace", "token_policies": "default", "token_ttl": "10m"}); err != nil {
		b.Fatal(err)
	}
	return n.mint(b, mintArgs{Workspace: "ws1", Phase: "plan", Audience: vaultAud, TTL: "1h"}).Token
}

func BenchmarkBrokerJWTLogin(b *testing.B) {
	n := startNode(b, nil)
	jwt := jwtSetup(b, n)
	c := benchClient(b, n, "")
	runConc(b, func() error {
		_, err := c.Logical().Write("auth/jwt/login", map[string]any{"role": "bench", "jwt": jwt})
		return err
	})
}

// BenchmarkBrokerAppRoleLogin logs in with a role id and a secret id that
// may be used any number of times, the AppRole counterpart of a jwt login.
func BenchmarkBrokerAppRoleLogin(b *testing.B) {
	n := startNode(b, nil)
	root := benchClient(b, n, n.token)
	if err := root.Sys().EnableAuthWithOptions("approle", &vault.EnableAuthOptions{Type: "approle"}); err != nil {
		b.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/bench", map[string]any{"token_policies": "default", "token_ttl": "10m"}); err != nil {
		b.Fatal(err)
	}
	role, err := root.Logical().Read("auth/approle/role/bench/role-id")
	if err != nil {
		b.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/approle/role/bench/secret-id", nil)
	if err != nil {
		b.Fatal(err)
	}
	c := benchClient(b, n, "")
	runConc(b, func() error {
		_, err := c.Logical().Write("auth/approle/login", map[string]any{"role_id": role.Data["role_id"], "secret_id": sid.Data["secret_id"]})
		return err
	})
}

func BenchmarkBareJWTVerify(b *testing.B) {
	n := startNode(b, nil)
	tok := n.mint(b, mintArgs{Workspace: "ws1", Phase: "plan", Audience: vaultAud}).Token
	resp, err := http.Get(n.d.URL() + "/.well-known/jwks")
	if err != nil {
		b.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := jsonDecode(resp, &set); err != nil {
		b.Fatal(err)
	}
	runConc(b, func() error {
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return err
		}
		_, err = jws.Verify(set.Key(jws.Signatures[0].Header.KeyID)[0].Key)
		return err
	})
}

func kvSetup(b *testing.B, n *node) *vault.Client {
	root := benchClient(b, n, n.token)
	if err := root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := root.KVv2("secret").Put(context.Background(), "app/db", map[string]any{"password": "p", "user": "u"}); err != nil {
		b.Fatal(err)
	}
	if err := root.Sys().PutPolicy("kv-read", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	sec, err := root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"kv-read"}})
	if err != nil {
		b.Fatal(err)
	}
	return benchClient(b, n, sec.Auth.ClientToken)
}

func BenchmarkBrokerKVRead(b *testing.B) {
	n := startNode(b, nil)
	c := kvSetup(b, n)
	runConc(b, func() error {
		_, err := c.KVv2("secret").Get(context.Background(), "app/db")
		return err
	})
}

func BenchmarkBareHTTPHealth(b *testing.B) {
	n := startNode(b, nil)
	c := benchClient(b, n, "")
	runConc(b, func() error {
		_, err := c.Sys().Health()
		return err
	})
}

func awsSetup(b *testing.B) (*node, *minio.Server, string) {
	n := startNode(b, nil)
	m := minio.Start(b, minio.Options{Policies: map[string]string{"state-rw": stateRW}, Buckets: []string{"ws1-state"}})
	password := rand.Text()
	m.AddUser(b, "runcred-broker", password, "state-rw")
	root := benchClient(b, n, n.token)
	if err := root.Sys().Mount("aws", &vault.MountInput{Type: "aws"}); err != nil {
		b.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"aws/config/root": {"access_key": "runcred-broker", "secret_key": password, "sts_endpoint": m.URL, "region": "us-east-1"},
		"aws/roles/ws1":   {"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/ws1"},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			b.Fatal(err)
		}
	}
	return n, m, password
}

func BenchmarkBrokerAWSCreds(b *testing.B) {
	n, _, _ := awsSetup(b)
	c := benchClient(b, n, n.token)
	runConc(b, func() error {
		_, err := c.Logical().Read("aws/creds/ws1")
		return err
	})
}

func BenchmarkBareAssumeRole(b *testing.B) {
	_, m, password := awsSetup(b)
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: awssdk.String(m.URL),
		Credentials: credentials.NewStaticCredentialsProvider("runcred-broker", password, "")})
	runConc(b, func() error {
		_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: awssdk.String("arn:aws:iam::123456789012:role/ws1"),
			RoleSessionName: awssdk.String("bench"), DurationSeconds: awssdk.Int32(3600)})
		return err
	})
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
