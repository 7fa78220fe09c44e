package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

func randomRoot(t testing.TB) (RootKey, []byte) {
	t.Helper()
	raw := make([]byte, rootKeySize)
	rand.Read(raw)
	return newRootKey(raw), raw
}

func mustOpen(t testing.TB, db *store.DB, root RootKey) *Seal {
	t.Helper()
	s, err := Open(context.Background(), db, root)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustEncrypt(t testing.TB, s *Seal, pt []byte, aad string) []byte {
	t.Helper()
	ct, err := s.Encrypt(pt, aad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return ct
}

func mustDecrypt(t testing.TB, s *Seal, ct []byte, aad string, want []byte) {
	t.Helper()
	got, err := s.Decrypt(ct, aad)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Decrypt = %q, want %q", got, want)
	}
}

// snapshot is every byte of seal_keys and secrets, to prove an operation
// changed nothing.
func snapshot(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	rows, err := db.Query(ctx, `SELECT version, root_key_id, wrapped, created_at FROM seal_keys ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			v, c int64
			id   string
			w    []byte
		)
		if err := rows.Scan(&v, &id, &w, &c); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "key %d %s %x %d\n", v, id, w, c)
	}
	rows.Close()
	rows, err = db.Query(ctx, `SELECT name, sealed, created_at FROM secrets ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			n string
			s []byte
			c int64
		)
		if err := rows.Scan(&n, &s, &c); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "secret %s %x %d\n", n, s, c)
	}
	rows.Close()
	return b.String()
}

func countKeys(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(t.Context(), `SELECT COUNT(*) FROM seal_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func keyVersion(ct []byte) uint32 { return binary.BigEndian.Uint32(ct[1:5]) }

func TestRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		s := mustOpen(t, db, root)
		for _, pt := range [][]byte{nil, []byte("x"), []byte("hunter2-plaintext"), bytes.Repeat([]byte{0xAB}, 4096)} {
			ct := mustEncrypt(t, s, pt, "runcred/test/row/1")
			if len(ct) != headerSize+nonceSize+len(pt)+tagSize || ct[0] != format || keyVersion(ct) != 1 {
				t.Fatalf("ciphertext layout: len=%d format=%d version=%d", len(ct), ct[0], keyVersion(ct))
			}
			if len(pt) > 4 && bytes.Contains(ct, pt) {
				t.Fatal("plaintext visible in ciphertext")
			}
			mustDecrypt(t, s, ct, "runcred/test/row/1", pt)
			if again := mustEncrypt(t, s, pt, "runcred/test/row/1"); bytes.Equal(again, ct) {
				t.Fatal("two encryptions are identical: nonce reused")
			}
		}
	})
}

func TestAADMismatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		s := mustOpen(t, db, root)
		pt := []byte("kv value")
		ct := mustEncrypt(t, s, pt, "runcred/kv/a")
		for _, aad := range []string{"runcred/kv/b", "", "runcred/kv/a ", "runcred/kv/"} {
			got, err := s.Decrypt(ct, aad)
			if err == nil || got != nil {
				t.Fatalf("aad %q: Decrypt = %q, %v; want error", aad, got, err)
			}
			if err.Error() != errDamaged.Error() {
				t.Fatalf("aad %q: error %q, want %q", aad, err, errDamaged)
			}
		}
	})
}

func TestEveryFlippedByteFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		s := mustOpen(t, db, root)
		pt := []byte("flip me if you can")
		ct := mustEncrypt(t, s, pt, "aad")
		for i := range ct {
			for _, mask := range []byte{0x01, 0x80, 0xFF} {
				c := bytes.Clone(ct)
				c[i] ^= mask
				got, err := s.Decrypt(c, "aad")
				if err == nil {
					t.Fatalf("byte %d ^ %#x: Decrypt succeeded with %q", i, mask, got)
				}
				if strings.Contains(err.Error(), string(pt)) {
					t.Fatalf("error leaks plaintext: %v", err)
				}
			}
		}
		mustDecrypt(t, s, ct, "aad", pt) // the original is still good
	})
}

func TestTruncatedAndExtendedFail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		s := mustOpen(t, db, root)
		ct := mustEncrypt(t, s, []byte("some plaintext"), "aad")
		for n := 0; n < len(ct); n++ {
			if _, err := s.Decrypt(ct[:n], "aad"); err == nil {
				t.Fatalf("truncated to %d bytes: Decrypt succeeded", n)
			}
		}
		if _, err := s.Decrypt(append(bytes.Clone(ct), 0), "aad"); err == nil {
			t.Fatal("extended ciphertext: Decrypt succeeded")
		}
	})
}

func TestUnknownDataKeyVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		s := mustOpen(t, db, root)
		ct := mustEncrypt(t, s, []byte("x"), "aad")
		binary.BigEndian.PutUint32(ct[1:5], 7)
		_, err := s.Decrypt(ct, "aad")
		if err == nil || !strings.Contains(err.Error(), "v7") {
			t.Fatalf("Decrypt with unknown version: %v; want an error naming v7", err)
		}
	})
}

func TestWrongRootKeyChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		right, _ := randomRoot(t)
		wrong, wrongRaw := randomRoot(t)
		s := mustOpen(t, db, right)
		if _, err := s.RotateDataKey(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Secret(ctx, "audit-hmac", func() ([]byte, error) { return []byte("k"), nil }); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, db)

		_, err := Open(ctx, db, wrong)
		if err == nil {
			t.Fatal("Open with the wrong root key succeeded")
		}
		msg := err.Error()
		for _, want := range []string{right.ID(), wrong.ID(), "RUNCRED_ROOT_KEY_FILE"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not mention %q", msg, want)
			}
		}
		for _, leak := range []string{base64.StdEncoding.EncodeToString(wrongRaw), hex.EncodeToString(wrongRaw), string(wrongRaw)} {
			if strings.Contains(msg, leak) {
				t.Errorf("error %q contains key material", msg)
			}
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("Open with the wrong key changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

func TestDamagedDataKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		root, _ := randomRoot(t)
		mustOpen(t, db, root)
		var w []byte
		if err := db.QueryRow(ctx, `SELECT wrapped FROM seal_keys WHERE version = 1`).Scan(&w); err != nil {
			t.Fatal(err)
		}
		w[len(w)/2] ^= 1
		if _, err := db.Exec(ctx, `UPDATE seal_keys SET wrapped = ? WHERE version = 1`, w); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, db, root)
		if err == nil || !strings.Contains(err.Error(), "damaged") || strings.Contains(err.Error(), "not the one") {
			t.Fatalf("Open with a damaged data key: %v; want a 'damaged' error", err)
		}
	})
}

func TestRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		ct := mustEncrypt(t, mustOpen(t, db, root), []byte("survives restart"), "aad")
		s2 := mustOpen(t, db, root)
		mustDecrypt(t, s2, ct, "aad", []byte("survives restart"))
		if n := countKeys(t, db); n != 1 {
			t.Fatalf("%d data keys after a restart, want 1", n)
		}
	})
}

func TestConcurrentOpenOnEmptyDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		const n = 8
		seals := make([]*Seal, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { seals[i], errs[i] = Open(t.Context(), db, root) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Open %d: %v", i, err)
			}
		}
		if c := countKeys(t, db); c != 1 {
			t.Fatalf("%d data keys after racing Opens, want 1", c)
		}
		ct := mustEncrypt(t, seals[0], []byte("shared"), "aad")
		for _, s := range seals {
			mustDecrypt(t, s, ct, "aad", []byte("shared"))
		}
	})
}

func TestRotateDataKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		root, _ := randomRoot(t)
		s1 := mustOpen(t, db, root)
		s2 := mustOpen(t, db, root) // opened before the rotation
		s3 := mustOpen(t, db, root) // rotates later from a stale view
		old := mustEncrypt(t, s1, []byte("old"), "aad")

		v, err := s1.RotateDataKey(ctx)
		if err != nil || v != 2 {
			t.Fatalf("RotateDataKey = %d, %v; want 2", v, err)
		}
		ct := mustEncrypt(t, s1, []byte("new"), "aad")
		if keyVersion(ct) != 2 {
			t.Fatalf("ciphertext after rotation names v%d, want v2", keyVersion(ct))
		}
		mustDecrypt(t, s1, old, "aad", []byte("old"))
		mustDecrypt(t, s2, ct, "aad", []byte("new")) // reload path
		if got := keyVersion(mustEncrypt(t, s2, []byte("x"), "aad")); got != 2 {
			t.Fatalf("after reloading, s2 encrypts with v%d, want v2", got)
		}

		// s3 still believes v1 is the latest: its rotation conflicts and
		// adopts v2 instead of adding v3.
		v, err = s3.RotateDataKey(ctx)
		if err != nil || v != 2 {
			t.Fatalf("stale RotateDataKey = %d, %v; want 2", v, err)
		}
		adopted := mustEncrypt(t, s3, []byte("x"), "aad")
		if got := keyVersion(adopted); got != 2 {
			t.Fatalf("after a conflicting rotation, s3 encrypts with v%d, want v2", got)
		}
		// ...and with the v2 that was stored, not the one it generated.
		mustDecrypt(t, s1, adopted, "aad", []byte("x"))
		if n := countKeys(t, db); n != 2 {
			t.Fatalf("%d data keys, want 2", n)
		}

		v, err = s3.RotateDataKey(ctx)
		if err != nil || v != 3 {
			t.Fatalf("RotateDataKey = %d, %v; want 3", v, err)
		}
		mustDecrypt(t, mustOpen(t, db, root), old, "aad", []byte("old"))
	})
}

func TestSecret(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		root, _ := randomRoot(t)
		s1 := mustOpen(t, db, root)
		var calls atomic.Int32
		gen := func() ([]byte, error) {
			calls.Add(1)
			b := make([]byte, 32)
			rand.Read(b)
			return b, nil
		}
		v1, err := s1.Secret(ctx, "audit-hmac", gen)
		if err != nil || v1.Empty() {
			t.Fatalf("Secret = %v, %v", v1, err)
		}
		v2, err := s1.Secret(ctx, "audit-hmac", gen)
		if err != nil || !v2.Equal(v1) {
			t.Fatalf("second Secret differs (err %v)", err)
		}
		v3, err := mustOpen(t, db, root).Secret(ctx, "audit-hmac", gen)
		if err != nil || !v3.Equal(v1) {
			t.Fatalf("Secret from another Seal differs (err %v)", err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("generate called %d times, want 1", n)
		}

		var sealed []byte
		if err := db.QueryRow(ctx, `SELECT sealed FROM secrets WHERE name = ?`, "audit-hmac").Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, v1.Reveal()) {
			t.Fatal("secret stored in the clear")
		}
		// Copied under another name, the sealed value does not open.
		if _, err := db.Exec(ctx, `INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, 0)`, "stolen", sealed); err != nil {
			t.Fatal(err)
		}
		if _, err := s1.Secret(ctx, "stolen", gen); err == nil {
			t.Fatal("a sealed secret opened under another name")
		}

		if _, err := s1.Secret(ctx, "absent", nil); err == nil {
			t.Fatal("Secret of an absent name with no generator succeeded")
		}

		// A failing generator stores nothing.
		boom := fmt.Errorf("boom")
		if _, err := s1.Secret(ctx, "other", func() ([]byte, error) { return nil, boom }); err == nil {
			t.Fatal("generate error not returned")
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM secrets WHERE name = ?`, "other").Scan(&n); err != nil || n != 0 {
			t.Fatalf("failed generate left %d rows (err %v)", n, err)
		}
	})
}

func TestSecretRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, _ := randomRoot(t)
		const n = 8
		vals := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			s := mustOpen(t, db, root)
			wg.Go(func() {
				v, err := s.Secret(t.Context(), "race", func() ([]byte, error) { return []byte{byte(i)}, nil })
				vals[i], errs[i] = v.Reveal(), err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Secret %d: %v", i, errs[i])
			}
			if !bytes.Equal(vals[i], vals[0]) {
				t.Fatalf("racing Secret calls disagree: %x vs %x", vals[i], vals[0])
			}
		}
	})
}

func TestRewrap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		oldRoot, _ := randomRoot(t)
		newRoot, _ := randomRoot(t)
		other, _ := randomRoot(t)
		s := mustOpen(t, db, oldRoot)
		ct1 := mustEncrypt(t, s, []byte("under v1"), "aad")
		if _, err := s.RotateDataKey(ctx); err != nil {
			t.Fatal(err)
		}
		ct2 := mustEncrypt(t, s, []byte("under v2"), "aad")
		sec, err := s.Secret(ctx, "audit-hmac", func() ([]byte, error) { return []byte("hmac key"), nil })
		if err != nil {
			t.Fatal(err)
		}

		// Refusals change nothing.
		before := snapshot(t, db)
		if _, err := Rewrap(ctx, db, other, newRoot); err == nil || !strings.Contains(err.Error(), other.ID()) {
			t.Fatalf("Rewrap with the wrong old key: %v", err)
		}
		if _, err := Rewrap(ctx, db, oldRoot, oldRoot); err == nil {
			t.Fatal("Rewrap to the same key succeeded")
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("a refused Rewrap changed the database:\n%s\n%s", before, after)
		}

		n, err := Rewrap(ctx, db, oldRoot, newRoot)
		if err != nil || n != 2 {
			t.Fatalf("Rewrap = %d, %v; want 2", n, err)
		}
		if _, err := Open(ctx, db, oldRoot); err == nil || !strings.Contains(err.Error(), newRoot.ID()) {
			t.Fatalf("Open with the old root after Rewrap: %v; want an error naming %s", err, newRoot.ID())
		}
		s2 := mustOpen(t, db, newRoot)
		mustDecrypt(t, s2, ct1, "aad", []byte("under v1"))
		mustDecrypt(t, s2, ct2, "aad", []byte("under v2"))
		if got, err := s2.Secret(ctx, "audit-hmac", nil); err != nil || !got.Equal(sec) {
			t.Fatalf("secret after Rewrap differs (err %v)", err)
		}

		// A node still running on the old root key must not add a data key
		// wrapped by it.
		before = snapshot(t, db)
		if _, err := s.RotateDataKey(ctx); err == nil {
			t.Fatal("RotateDataKey under the old root key succeeded after Rewrap")
		}
		if after := snapshot(t, db); after != before {
			t.Fatal("a refused RotateDataKey changed the database")
		}
	})
}

func TestRewrapIsAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		oldRoot, _ := randomRoot(t)
		newRoot, _ := randomRoot(t)
		s := mustOpen(t, db, oldRoot)
		if _, err := s.RotateDataKey(ctx); err != nil {
			t.Fatal(err)
		}
		var w []byte
		if err := db.QueryRow(ctx, `SELECT wrapped FROM seal_keys WHERE version = 2`).Scan(&w); err != nil {
			t.Fatal(err)
		}
		w[0] ^= 1
		if _, err := db.Exec(ctx, `UPDATE seal_keys SET wrapped = ? WHERE version = 2`, w); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, db)
		if _, err := Rewrap(ctx, db, oldRoot, newRoot); err == nil || !strings.Contains(err.Error(), "v2") {
			t.Fatalf("Rewrap over a damaged key: %v; want an error naming v2", err)
		}
		if after := snapshot(t, db); after != before {
			t.Fatalf("a failed Rewrap changed the database:\n%s\n%s", before, after)
		}
	})
}

func TestNoKeyMaterialPrinted(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t))
	root, raw := randomRoot(t)
	s := mustOpen(t, db, root)
	var w []byte
	if err := db.QueryRow(t.Context(), `SELECT wrapped FROM seal_keys WHERE version = 1`).Scan(&w); err != nil {
		t.Fatal(err)
	}
	dk, err := unwrap(root, 1, w)
	if err != nil {
		t.Fatal(err)
	}

	type exported struct{ Root RootKey }
	type unexported struct {
		root RootKey
		seal *Seal
	}
	values := []any{root, &root, s, exported{root}, unexported{root, s}, &unexported{root, s}}
	var out []string
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
	}
	j, err := json.Marshal(exported{root})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "root", root, "seal", s, "h", exported{root})
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "root", root, "seal", s)
	out = append(out, buf.String())

	var leaks []string
	for _, k := range [][]byte{raw, dk} {
		leaks = append(leaks, string(k), hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)),
			base64.StdEncoding.EncodeToString(k), fmt.Sprint(k), fmt.Sprintf("%d", k[:8]))
	}
	for _, o := range out {
		for _, l := range leaks {
			if strings.Contains(o, l) {
				t.Fatalf("key material printed: %s", o)
			}
		}
	}
	if got := fmt.Sprint(root); !strings.Contains(got, root.ID()) {
		t.Fatalf("RootKey prints as %q; want its id", got)
	}
}

// FuzzDecrypt checks that Decrypt never panics and never accepts anything
// but a genuine ciphertext. The data key is fixed so that seed ciphertexts
// made by the coordinator also open in the fuzzing workers.
func FuzzDecrypt(f *testing.F) {
	const (
		aad = "runcred/fuzz"
		pt  = "fuzz plaintext"
	)
	db := storetest.Open(f, filepath.Join(f.TempDir(), "fuzz.db"))
	root := newRootKey(bytes.Repeat([]byte{7}, rootKeySize))
	w, err := wrap(root, 1, bytes.Repeat([]byte{9}, dataKeyLen))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `INSERT INTO seal_keys (version, root_key_id, wrapped, created_at) VALUES (1, ?, ?, 0)`, root.ID(), w); err != nil {
		f.Fatal(err)
	}
	s := mustOpen(f, db, root)
	ct := mustEncrypt(f, s, []byte(pt), aad)
	f.Add(ct, aad)
	f.Add(ct[:len(ct)-1], aad)
	f.Add(ct, "other")
	f.Add([]byte{}, "")
	f.Add([]byte{1, 0, 0, 0, 1}, aad)
	f.Add(append([]byte{1, 0, 0, 0, 2}, ct[5:]...), aad)
	f.Fuzz(func(t *testing.T, c []byte, a string) {
		got, err := s.Decrypt(c, a)
		if err != nil {
			if got != nil {
				t.Fatalf("Decrypt returned %q with error %v", got, err)
			}
			return
		}
		if a != aad || string(got) != pt {
			t.Fatalf("Decrypt accepted a forgery: aad %q, plaintext %q", a, got)
		}
	})
}

func benchSeal(b *testing.B) *Seal {
	db := storetest.Open(b, filepath.Join(b.TempDir(), "bench.db"))
	root, _ := randomRoot(b)
	return mustOpen(b, db, root)
}

func BenchmarkEncrypt(b *testing.B) {
	s := benchSeal(b)
	pt := make([]byte, 1024)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Encrypt(pt, "runcred/bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	s := benchSeal(b)
	ct := mustEncrypt(b, s, make([]byte, 1024), "runcred/bench")
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decrypt(ct, "runcred/bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLastDataKeyVersion: the largest version a ciphertext header can name
// is a valid key, and rotation past it is refused rather than wrapping to 0.
// SQLite only: PostgreSQL's INTEGER column cannot hold that version.
func TestLastDataKeyVersion(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t))
	root, _ := randomRoot(t)
	mustOpen(t, db, root)
	wrapped, err := wrap(root, math.MaxUint32, make([]byte, dataKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(t.Context(), `INSERT INTO seal_keys (version, root_key_id, wrapped, created_at) VALUES (?, ?, ?, 0)`,
		int64(math.MaxUint32), root.ID(), wrapped); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, db, root)
	ct := mustEncrypt(t, s, []byte("last"), "aad")
	if keyVersion(ct) != math.MaxUint32 {
		t.Fatalf("encrypts with v%d, want the last version", keyVersion(ct))
	}
	mustDecrypt(t, mustOpen(t, db, root), ct, "aad", []byte("last"))
	if _, err := s.RotateDataKey(t.Context()); err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("rotation past the last version: %v", err)
	}
}
