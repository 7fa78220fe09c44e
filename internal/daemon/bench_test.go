package daemon_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// The pair below is what `make bench` compares: the bare cost of an RS256
// signature over a token-sized payload, and a full mint through the HTTP API
// (authentication, validation, signing, the audit append, JSON). c8 runs
// eight goroutines on whatever cores there are, for both.

func BenchmarkBareSign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 700) // about a runcred token's claims
	sign := func() {
		jws, err := signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("c1", func(b *testing.B) {
		for b.Loop() {
			sign()
		}
	})
	b.Run("c8", func(b *testing.B) {
		b.SetParallelism(parallelism())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sign()
			}
		})
	})
}

func BenchmarkMintHTTP(b *testing.B) {
	n := startNode(b, nil)
	body, _ := json.Marshal(map[string]any{"organization": "demo", "project": "Default Project", "workspace": "ws1",
		"run_id": "run-bench1", "phase": "plan", "audience": aud})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	mint := func() {
		req, _ := http.NewRequest("POST", n.d.URL()+"/api/runcred/v1/identity/mint", bytes.NewReader(body))
		req.Header.Set("X-Vault-Token", n.token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("mint: HTTP %d", resp.StatusCode)
		}
	}
	b.Run("c1", func(b *testing.B) {
		for b.Loop() {
			mint()
		}
	})
	b.Run("c8", func(b *testing.B) {
		b.SetParallelism(parallelism())
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mint()
			}
		})
	})
}

// parallelism makes RunParallel use 8 goroutines in all.
func parallelism() int {
	p := 8 / runtimeProcs()
	if p < 1 {
		p = 1
	}
	return p
}
