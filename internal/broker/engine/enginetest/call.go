package enginetest

import (
	"context"
	"testing"

	"github.com/runcred/runcred/internal/broker/engine"
)

// Call sends one request to b with storage st, as the core would (the path is
// relative to the mount) and returns what b answered.
func Call(t testing.TB, b engine.Backend, st engine.Storage, op engine.Operation, path string, data map[string]any) (*engine.Response, error) {
	t.Helper()
	if data == nil {
		data = map[string]any{}
	}
	return engine.Serve(context.Background(), b.Routes(), &engine.Request{Operation: op, Path: path, Data: data, Storage: st})
}
