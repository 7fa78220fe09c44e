package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// plainSeal stores the keyring as it is: these tests are about versions.
type plainSeal struct{}

func (plainSeal) Encrypt(p []byte, _ string) ([]byte, error) { return p, nil }
func (plainSeal) Decrypt(c []byte, _ string) ([]byte, error) { return c, nil }

// TestKeyringCompareAndSwap: a swap lands only from the stored version, so
// of two nodes that read the same keyring only one can change it; update
// returns the version it stored, and gives up after ten lost races.
func TestKeyringCompareAndSwap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := keyStore{db: db, seal: plainSeal{}}
		now := time.Unix(1_700_000_000, 0)
		for _, c := range []struct {
			from int64
			want error
		}{{0, nil}, {0, errRaced}, {1, nil}, {1, errRaced}, {3, errRaced}} {
			if err := s.swap(ctx, c.from, Keyring{}, now); !errors.Is(err, c.want) {
				t.Fatalf("swap from v%d: %v, want %v", c.from, err, c.want)
			}
		}
		got, err := s.update(ctx, now, func(old Keyring) (Keyring, bool, error) { return old, true, nil })
		if v, verr := s.version(ctx); err != nil || verr != nil || v != 3 || got.Version != 3 {
			t.Fatalf("update: returned v%d, stored v%d (%v %v), want 3", got.Version, v, err, verr)
		}
		// Another node changes the keyring every time this one reads it.
		calls := 0
		_, err = s.update(ctx, now, func(old Keyring) (Keyring, bool, error) {
			calls++
			if err := s.swap(ctx, old.Version, old, now); err != nil {
				t.Fatal(err)
			}
			return old, true, nil
		})
		if err == nil || calls != 10 {
			t.Fatalf("update under constant races: %d attempts, %v; want 10 and an error", calls, err)
		}
	})
}
