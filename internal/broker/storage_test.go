package broker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/runcred/runcred/internal/broker"
	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/storagetest"
	"github.com/runcred/runcred/internal/seal"
	"github.com/runcred/runcred/internal/store"
	"github.com/runcred/runcred/internal/store/storetest"
)

// The broker's sealed mount storage keeps the engine.Storage contract on
// every database, exactly as the in-memory storage engine tests use.
func TestStorageConformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		root, err := seal.GenerateRootKeyFile(filepath.Join(t.TempDir(), "root-key"))
		if err != nil {
			t.Fatal(err)
		}
		sl, err := seal.Open(context.Background(), db, root)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		storagetest.Run(t, func(*testing.T) engine.Storage {
			n++ // each subtest gets a mount of its own in the same database
			return broker.MountStorage(db, sl, fmt.Sprintf("mount-%d", n))
		})
	})
}
