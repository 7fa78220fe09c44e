// Package kv is Vault's key/value secrets engine: version 2, with versioned
// keys, metadata, check-and-set, soft delete and destroy (the behaviour of
// hashicorp/vault-plugin-secrets-kv), and the plain version 1.
//
// A version 2 mount keeps, each as one JSON document in its Storage:
//
//	config          the mount's max_versions, cas_required, delete_version_after
//	meta/<path>     a key's settings and the state of each version it keeps
//	ver/<path>/<N>  the data of version N
//
// so reading the latest version costs two Gets and LIST walks meta/. Every
// write of a key runs in Storage.Atomic under the lock "kv/<path>", which is
// what makes check-and-set hold when many server nodes write at once.
//
// A version 1 mount stores each key's JSON object at the key's own path, as
// Vault does.
package kv

import (
	"fmt"
	"strings"
	"time"

	"github.com/runcred/runcred/internal/broker/engine"
	"github.com/runcred/runcred/internal/fail"
)

// Options are the engine's dependencies.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Backend is a kv mount, version 1 or 2.
type Backend struct {
	version int
	now     func() time.Time
	routes  *engine.Routes
}

var _ engine.Backend = (*Backend)(nil)

// New builds the engine for a mount. conf.Options["version"] is "1" or "2";
// empty means 1, as for Vault's "kv" type, except on a mount of type
// "kv-v2".
func New(conf engine.MountConfig, opts Options) (*Backend, error) {
	b := &Backend{now: opts.Now}
	if b.now == nil {
		b.now = time.Now
	}
	switch v := conf.Options["version"]; {
	case v == "" && conf.Type == "kv-v2", v == "2":
		b.version = 2
	case v == "", v == "1":
		b.version = 1
	default:
		return nil, fail.Invalidf("unsupported kv version %q: must be \"1\" or \"2\"", v)
	}
	if b.version == 2 {
		b.routes = b.pathsV2()
	} else {
		b.routes = pathsV1()
	}
	return b, nil
}

// Factory returns an engine.Factory building kv mounts with opts.
func Factory(opts Options) engine.Factory {
	return engine.FactoryOf(New, opts)
}

// Routes are the mount's paths.
func (b *Backend) Routes() *engine.Routes { return b.routes }

// Cacheable names a version 2 mount's config, key metadata and version
// documents, which every read loads, so a node serves reads of them from
// memory (engine.Cacheable). Every change to them is a Put or Delete
// through the mount's Storage, which drops them from this node's cache.
// A version 1 mount's keys are the caller's paths: none is cached.
func (b *Backend) Cacheable(key string) bool {
	return b.version == 2 && (key == configKey || strings.HasPrefix(key, metaPrefix) || strings.HasPrefix(key, verPrefix))
}

// invalidPath is Vault's answer to a version 1 style path on a version 2
// mount: 404 with a warning that points at the right API.
func invalidPath(op engine.Operation) *engine.Response {
	sub := map[engine.Operation]string{
		engine.Create: "put", engine.Update: "put", engine.Read: "get",
		engine.List: "list", engine.Delete: "delete", engine.Patch: "patch",
	}[op]
	return &engine.Response{Status: 404, Warnings: []string{fmt.Sprintf(
		"Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv %s' for this operation.", sub)}}
}

// checkKey refuses key names that cannot be stored unambiguously. Vault
// requires a name; a leading, trailing or doubled "/" would make a key that
// LIST cannot show and that collides with a folder.
func checkKey(key string) error {
	switch {
	case key == "":
		return fail.Invalidf("missing path")
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"), strings.Contains(key, "//"):
		return fail.Invalidf("invalid path %q: a key name may not begin or end with \"/\" or contain \"//\"", key)
	}
	return nil
}

// listPrefix turns a LIST path into a folder prefix ("" or ending in "/"),
// as Vault's HTTP layer does; ok is false when no key can be under it.
func listPrefix(p string) (string, bool) {
	if p == "" {
		return "", true
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p, checkKey(strings.TrimSuffix(p, "/")) == nil
}

// withUnknown adds Vault's warning about parameters an endpoint ignored.
func withUnknown(resp *engine.Response, f engine.Fields, known ...string) *engine.Response {
	unknown := f.Unknown(known...)
	if len(unknown) == 0 {
		return resp
	}
	if resp == nil {
		resp = &engine.Response{}
	}
	resp.Warnings = append(resp.Warnings, fmt.Sprintf("Endpoint ignored these unrecognized parameters: %v", unknown))
	return resp
}
