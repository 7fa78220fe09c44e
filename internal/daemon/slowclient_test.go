package daemon_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/daemon"
)

// TestSlowClientsCutOff: a client that sends its headers or its body a
// byte at a time does not hold its connection for good: the server closes
// it once the header timeout, or the body's grace period and minimum rate,
// are used up. (Each would take hours at this pace if it were let finish.)
func TestSlowClientsCutOff(t *testing.T) {
	n := startNode(t, func(c *daemon.Config) {
		c.Limits = daemon.Limits{HeaderTimeout: 300 * time.Millisecond, BodyGrace: 300 * time.Millisecond, MinBodyRate: 1 << 20}
	})
	addr := strings.TrimPrefix(n.d.URL(), "http://")
	const size = 1 << 20
	for _, tc := range []struct {
		name, head  string
		trickleHead bool
	}{
		{"headers", "PUT /v1/sys/policies/acl/slow HTTP/1.1\r\nHost: runcred\r\nX-Vault-Token: " + n.token + "\r\n", true},
		{"body", fmt.Sprintf("PUT /v1/sys/policies/acl/slow HTTP/1.1\r\nHost: runcred\r\nX-Vault-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", n.token, size), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var sent atomic.Int64
			go func() {
				trickle := tc.head + strings.Repeat(" ", size)
				if !tc.trickleHead {
					if _, err := io.WriteString(conn, tc.head); err != nil {
						return
					}
					trickle = trickle[len(tc.head):]
				}
				for i := range len(trickle) {
					if _, err := conn.Write([]byte{trickle[i]}); err != nil {
						return
					}
					sent.Add(1)
					time.Sleep(10 * time.Millisecond) // the client's pace, not a wait for a condition
				}
			}()
			// The failure bound: far past the limits, far short of the
			// hours the trickle would take.
			_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil {
					_, err = conn.Read(make([]byte, 1)) // then the server closes
				}
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection is still open after %d bytes", sent.Load())
			}
			if sent.Load() >= size {
				t.Fatal("the whole trickle was taken")
			}
		})
	}
}
