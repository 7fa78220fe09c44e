package enginetest_test

import (
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/broker/engine/enginetest"
	"github.com/runcred/runcred/internal/broker/engine/storagetest"
)

func TestStorageConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) engine.Storage { return enginetest.NewStorage() })
}
