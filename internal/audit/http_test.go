package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/store/storetest"
)

// denyAll refuses every request, as an operator without the grant sees it.
type denyAll struct{}

func (denyAll) Authorize(context.Context, string, string) error {
	return fail.Deniedf("permission denied")
}

// allowAll lets every request through.
type allowAll struct{}

func (allowAll) Authorize(context.Context, string, string) error { return nil }

func serve(t *testing.T, l *Log, authz access.Authorizer) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	Handlers{Log: l, Authz: authz, Logger: slog.New(slog.DiscardHandler)}.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestHTTPList covers the paging parameters, their bounds and their defaults.
func TestHTTPList(t *testing.T) {
	l := New(storetest.Open(t, storetest.SQLiteURL(t)), testKey, clock())
	srv := serve(t, l, allowAll{})
	base := srv.URL + "/api/runcred/v1/audit"

	var empty map[string]json.RawMessage
	if code := get(t, base, &empty); code != http.StatusOK || string(empty["records"]) != "[]" {
		t.Fatalf("empty log: %d %s", code, empty["records"])
	}
	seed(t, l, 120)
	for query, want := range map[string][]int64{
		"":                  {1, 100}, // from the start, 100 by default
		"?after=0":          {1, 100},
		"?after=110":        {111, 120},
		"?after=5&limit=1":  {6, 6},
		"?limit=1000":       {1, 120},
		"?tail=1":           {120, 120},
		"?tail=1000":        {1, 120},
		"?tail=3&after=999": {118, 120}, // tail wins
	} {
		var body struct{ Records []Record }
		if code := get(t, base+query, &body); code != http.StatusOK {
			t.Errorf("%q: %d", query, code)
			continue
		}
		n := len(body.Records)
		if n == 0 || body.Records[0].Seq != want[0] || body.Records[n-1].Seq != want[1] || int64(n) != want[1]-want[0]+1 {
			t.Errorf("%q: seqs %v, want %d..%d", query, seqs(body.Records), want[0], want[1])
		}
	}
	var none struct{ Records []Record }
	if code := get(t, base+"?after=4611686018427387904", &none); code != http.StatusOK || len(none.Records) != 0 {
		t.Errorf("after the largest seq: %d %v", code, seqs(none.Records))
	}
	for _, query := range []string{
		"?limit=0", "?limit=1001", "?limit=x", "?after=-1", "?after=x", "?after=4611686018427387905",
		"?tail=0", "?tail=1001", "?tail=", "?after=1&limit=0",
	} {
		if code := get(t, base+query, nil); code != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", query, code)
		}
	}
	var rep Report
	if code := get(t, base+"/verify", &rep); code != http.StatusOK || rep.Records != 120 || rep.Broken != nil {
		t.Fatalf("verify: %d %+v", code, rep)
	}
}

// TestHTTPRefusesWithoutGrant: neither endpoint answers a caller the
// authorizer refuses, and a refusal reveals no record.
func TestHTTPRefusesWithoutGrant(t *testing.T) {
	l := New(storetest.Open(t, storetest.SQLiteURL(t)), testKey, clock())
	seed(t, l, 2)
	srv := serve(t, l, denyAll{})
	for _, path := range []string{"/api/runcred/v1/audit", "/api/runcred/v1/audit?tail=1", "/api/runcred/v1/audit/verify"} {
		if code := get(t, srv.URL+path, nil); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", path, code)
		}
	}
}

// TestHTTPReadErrors: a log that cannot be read is a 500, not an empty list.
func TestHTTPReadErrors(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t))
	l := New(db, testKey, clock())
	srv := serve(t, l, allowAll{})
	db.Close()
	for _, path := range []string{"/api/runcred/v1/audit", "/api/runcred/v1/audit?tail=1", "/api/runcred/v1/audit/verify"} {
		if code := get(t, srv.URL+path, nil); code != http.StatusInternalServerError {
			t.Errorf("%s on a closed database: %d, want 500", path, code)
		}
	}
}
