package kv

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// handler serves one operation of a version 2 path family; key is the rest
// of the path after "<family>/".
type handler func(ctx context.Context, st engine.Storage, key string, f engine.Fields) (*engine.Response, error)

// pathsV2 is a version 2 mount's route table: the mount's config and the
// path families that take a key. A path outside them is Vault's answer to
// a version 1 style path (invalidPath). Writes to data/ and metadata/ tell
// create from update by the key's metadata.
func (b *Backend) pathsV2() *engine.Routes {
	type route = engine.Route[engine.Handler]
	type ops = map[engine.Operation]engine.Handler
	type p = engine.Path
	// Every operation of a KV mount only reads and writes its storage.
	family := func(name string, o map[engine.Operation]handler, exists bool) route {
		r := route{Path: p{Pattern: name + "/*", StorageOnly: true}, Operations: ops{}}
		if exists {
			r.Exists = keyExists
		}
		for op, h := range o {
			r.Operations[op] = keyed(name, h)
		}
		return r
	}
	f := func(h func(context.Context, engine.Storage, engine.Fields) (*engine.Response, error)) engine.Handler {
		return func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
			return h(ctx, req.Storage, engine.Fields(req.Data))
		}
	}
	readConfig := func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
		return b.readConfig(ctx, req.Storage)
	}
	return engine.NewTable[engine.Handler](versionOnePath, engine.Unsupported,
		route{Path: p{Pattern: "config", StorageOnly: true}, Operations: ops{engine.Read: readConfig, engine.Update: f(b.writeConfig)}},
		family("data", map[engine.Operation]handler{engine.Read: b.readData, engine.Update: b.writeData,
			engine.Patch: b.patchData, engine.Delete: b.deleteLatest}, true),
		family("subkeys", map[engine.Operation]handler{engine.Read: b.readSubkeys}, false),
		family("delete", map[engine.Operation]handler{engine.Update: b.deleteVersions}, false),
		family("undelete", map[engine.Operation]handler{engine.Update: b.undeleteVersions}, false),
		family("destroy", map[engine.Operation]handler{engine.Update: b.destroyVersions}, false),
		family("metadata", map[engine.Operation]handler{engine.Read: b.readMetadata, engine.Update: b.writeMetadata,
			engine.Patch: b.patchMetadata, engine.Delete: b.deleteMetadata, engine.List: b.listMetadata}, true),
		// The families' own names, without a key: only LIST of the
		// mount's root folder is served.
		route{Path: p{Pattern: "metadata", Exists: keyExists, StorageOnly: true}, Operations: ops{engine.List: keyed("metadata", b.listMetadata)},
			Otherwise: versionOnePath},
		route{Path: p{Pattern: "data", Exists: keyExists}, Otherwise: versionOnePath},
	)
}

// versionOnePath answers a path a version 2 mount does not have.
func versionOnePath(_ context.Context, req *engine.Request) (*engine.Response, error) {
	return invalidPath(req.Operation), nil
}

// keyed passes a family's handler the key after "<family>/". A key that
// cannot be stored is not found on a read and refused on a write.
func keyed(family string, h handler) engine.Handler {
	return func(ctx context.Context, req *engine.Request) (*engine.Response, error) {
		key := strings.TrimPrefix(strings.TrimPrefix(req.Path, family), "/")
		if req.Operation != engine.List {
			if err := checkKey(key); err != nil {
				if req.Operation == engine.Read {
					return nil, nil // nothing can be stored under such a name
				}
				return nil, err
			}
		}
		return h(ctx, req.Storage, key, engine.Fields(req.Data))
	}
}

// keyExists is the existence check of data/ and metadata/: whether the
// key has metadata.
func keyExists(ctx context.Context, req *engine.Request) (bool, error) {
	_, key, _ := strings.Cut(req.Path, "/")
	if checkKey(key) != nil {
		return false, nil
	}
	m, err := loadMeta(ctx, req.Storage, key)
	return m != nil, err
}

// pathsV1 is a version 1 mount's route table: every path is a key whose
// request body is the secret.
func pathsV1() *engine.Routes {
	return engine.NewRoutes(engine.Route[engine.Handler]{
		Path: engine.Path{Pattern: "*", Exists: existsV1, StorageOnly: true},
		Operations: map[engine.Operation]engine.Handler{
			engine.List: listV1, engine.Read: readV1, engine.Update: writeV1, engine.Delete: deleteV1,
		},
	})
}

func existsV1(ctx context.Context, req *engine.Request) (bool, error) {
	if checkKey(req.Path) != nil {
		return false, nil
	}
	raw, err := req.Storage.Get(ctx, req.Path)
	return raw != nil, err
}

func listV1(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	prefix, ok := listPrefix(req.Path)
	if !ok {
		return nil, nil
	}
	keys, err := req.Storage.List(ctx, prefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return &engine.Response{Data: map[string]any{"keys": keys}}, nil
}

func readV1(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	if checkKey(req.Path) != nil {
		return nil, nil
	}
	raw, err := req.Storage.Get(ctx, req.Path)
	if err != nil || raw == nil {
		return nil, err
	}
	data, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	return &engine.Response{Data: data}, nil
}

func writeV1(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	if err := checkKey(req.Path); err != nil {
		return nil, err
	}
	if len(req.Data) == 0 {
		return nil, fail.Invalidf("missing data fields")
	}
	raw, err := json.Marshal(req.Data)
	if err != nil {
		return nil, fail.Wrap(fail.Invalid, err, "data is not valid JSON")
	}
	return nil, req.Storage.Put(ctx, req.Path, raw)
}

func deleteV1(ctx context.Context, req *engine.Request) (*engine.Response, error) {
	if err := checkKey(req.Path); err != nil {
		return nil, err
	}
	return nil, req.Storage.Delete(ctx, req.Path)
}
