package state

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/resource"
	"github.com/runcred/runcred/internal/platform/workspace"
	"github.com/runcred/runcred/internal/store"
)

// Output is one output of a state version. Value is nil when it is
// sensitive and the caller may not read the state itself.
type Output struct {
	ID           string // "wsout-…", naming the state version and the output
	Name         string
	Sensitive    bool
	Type         string          // string, number, bool, array or object
	DetailedType json.RawMessage // the type as the state records it
	Value        json.RawMessage
}

// document is the part of a state file outputs and counts come from.
type document struct {
	Outputs map[string]struct {
		Value     json.RawMessage `json:"value"`
		Type      json.RawMessage `json:"type"`
		Sensitive bool            `json:"sensitive"`
	} `json:"outputs"`
	Resources []struct {
		Mode      string            `json:"mode"`
		Instances []json.RawMessage `json:"instances"`
	} `json:"resources"`
}

func parse(b []byte) (document, error) {
	var d document
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fail.Wrap(fail.Internal, err, "a stored state is not a state file")
	}
	return d, nil
}

// OutputID names output name of state version sv.
func OutputID(sv, name string) string {
	return "wsout-" + base64.RawURLEncoding.EncodeToString([]byte(sv+"/"+name))
}

func parseOutputID(id string) (sv, name string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(id, "wsout-"))
	if err != nil || !strings.HasPrefix(id, "wsout-") {
		return "", "", false
	}
	sv, name, ok = strings.Cut(string(raw), "/")
	return sv, name, ok
}

func kindOf(v json.RawMessage) string {
	switch t := strings.TrimSpace(string(v)); {
	case strings.HasPrefix(t, `"`):
		return "string"
	case strings.HasPrefix(t, "["):
		return "array"
	case strings.HasPrefix(t, "{"):
		return "object"
	case t == "true" || t == "false":
		return "bool"
	case t == "null":
		return "null"
	}
	return "number"
}

// may reports whether the caller holds capability on path.
func (s *Service) may(ctx context.Context, path, capability string) bool {
	return s.base.Authorize(ctx, path, capability) == nil
}

// CurrentOutputs returns the outputs of workspace wsID's current state
// and its id ("" and none when it has no state). Listing them needs read on
// the workspace's state outputs; the values of sensitive ones, read on its
// state versions (which hold them anyway).
func (s *Service) CurrentOutputs(ctx context.Context, wsID string) (string, []Output, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return "", nil, err
	}
	if err := s.base.Authorize(ctx, workspace.StateOutputsPath(w.Organization, w.Name), access.Read); err != nil {
		return "", nil, err
	}
	sv, err := s.db.current(ctx, w.ID)
	switch {
	case store.IsNotFound(err):
		return "", nil, nil
	case err != nil:
		return "", nil, err
	}
	outs, err := s.outputs(ctx, w, sv.ID)
	return sv.ID, outs, err
}

func (s *Service) outputs(ctx context.Context, w workspace.Workspace, svID string) ([]Output, error) {
	b, err := NewDirectory(s.base).Content(ctx, svID, false)
	if err != nil {
		return nil, err
	}
	doc, err := parse(b)
	if err != nil {
		return nil, err
	}
	secrets := s.may(ctx, versionsPath(w.Organization, w.Name), access.Read)
	out := make([]Output, 0, len(doc.Outputs))
	for name, o := range doc.Outputs {
		v := Output{ID: OutputID(svID, name), Name: name, Sensitive: o.Sensitive, Type: kindOf(o.Value), DetailedType: o.Type, Value: o.Value}
		if o.Sensitive && !secrets {
			v.Value = nil
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Output returns one output by id, the value of a sensitive one only to a
// caller who may read the workspace's state versions.
func (s *Service) Output(ctx context.Context, id string) (Output, error) {
	svID, name, ok := parseOutputID(id)
	notFound := fail.NotFoundf("state version output %q not found", fail.Clip(id))
	if !ok {
		return Output{}, notFound
	}
	sv, err := s.db.version(ctx, svID)
	if err != nil {
		return Output{}, notFound
	}
	w, err := s.ws.Workspace(ctx, sv.WorkspaceID)
	if err != nil {
		return Output{}, err
	}
	if err := s.base.Authorize(ctx, workspace.StateOutputsPath(w.Organization, w.Name), access.Read); err != nil {
		return Output{}, err
	}
	outs, err := s.outputs(ctx, w, svID)
	if err != nil {
		return Output{}, err
	}
	for _, o := range outs {
		if o.Name == name {
			return o, nil
		}
	}
	return Output{}, notFound
}

// ResourceCount is the number of managed resource instances in workspace
// wsID's current state, for a caller who may read the workspace. The count
// is not secret, so opening the state for it is not a read on the record.
func (s *Service) ResourceCount(ctx context.Context, wsID string) (int, error) {
	w, err := s.ws.Workspace(ctx, wsID)
	if err != nil {
		return 0, err
	}
	if err := s.base.Authorize(ctx, resource.WorkspacePath(w.Organization, w.Name), access.Read); err != nil {
		return 0, err
	}
	sv, err := s.db.current(ctx, w.ID)
	switch {
	case store.IsNotFound(err):
		return 0, nil
	case err != nil:
		return 0, err
	}
	b, _, err := NewDirectory(s.base).open(ctx, sv.ID)
	if err != nil {
		return 0, err
	}
	doc, err := parse(b)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range doc.Resources {
		if r.Mode == "managed" {
			n += len(r.Instances)
		}
	}
	return n, nil
}
