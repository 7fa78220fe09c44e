package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/hashicorp/jsonapi"
	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/tag"
	"github.com/runcred/runcred/internal/respond"
)

type tagBindingJSON struct {
	ID    string `jsonapi:"primary,tag-bindings"`
	Key   string `jsonapi:"attr,key"`
	Value string `jsonapi:"attr,value"`
}

type effectiveTagBindingJSON struct {
	ID    string `jsonapi:"primary,effective-tag-bindings"`
	Key   string `jsonapi:"attr,key"`
	Value string `jsonapi:"attr,value"`
	// InheritedFrom is the project an inherited binding comes from, sent
	// as the binding's "inherited-from" link, as HCP Terraform does.
	InheritedFrom string
}

// JSONAPILinks gives an inherited binding its link to the project.
func (e *effectiveTagBindingJSON) JSONAPILinks() *jsonapi.Links {
	if e.InheritedFrom == "" {
		return &jsonapi.Links{} // the library requires a value
	}
	return &jsonapi.Links{"inherited-from": "/api/v2/projects/" + e.InheritedFrom}
}

// bindingID names a binding of target stably: bindings are replaced as a
// set, so they have no id of their own.
func bindingID(target, key string) string {
	sum := sha256.Sum256([]byte(target + "\x00" + key))
	return "tb-" + hex.EncodeToString(sum[:8])
}

func (h *API) mountTags(route func(string, func(http.ResponseWriter, *http.Request) error)) {
	for _, kind := range []struct {
		prefix    string
		own       func(*API, *http.Request, string) ([]tag.Binding, error)
		set       func(*API, *http.Request, string, []tag.Binding) ([]tag.Binding, error)
		add       func(*API, *http.Request, string, []tag.Binding) ([]tag.Binding, error)
		effective func(*API, *http.Request, string) ([]tag.Binding, error)
	}{
		{"/api/v2/projects/{id}",
			func(h *API, r *http.Request, id string) ([]tag.Binding, error) {
				return h.Service.Tags.Project(r.Context(), id)
			},
			func(h *API, r *http.Request, id string, bs []tag.Binding) ([]tag.Binding, error) {
				return h.Service.Tags.SetProject(r.Context(), id, bs)
			},
			func(h *API, r *http.Request, id string, bs []tag.Binding) ([]tag.Binding, error) {
				return h.Service.Tags.AddProject(r.Context(), id, bs)
			},
			func(h *API, r *http.Request, id string) ([]tag.Binding, error) {
				return h.Service.Tags.EffectiveProject(r.Context(), id)
			}},
		{"/api/v2/workspaces/{id}",
			func(h *API, r *http.Request, id string) ([]tag.Binding, error) {
				return h.Service.Tags.Workspace(r.Context(), id)
			},
			func(h *API, r *http.Request, id string, bs []tag.Binding) ([]tag.Binding, error) {
				return h.Service.Tags.SetWorkspace(r.Context(), id, bs)
			},
			func(h *API, r *http.Request, id string, bs []tag.Binding) ([]tag.Binding, error) {
				return h.Service.Tags.AddWorkspace(r.Context(), id, bs)
			},
			func(h *API, r *http.Request, id string) ([]tag.Binding, error) {
				return h.Service.Tags.EffectiveWorkspace(r.Context(), id)
			}},
	} {
		route("GET "+kind.prefix+"/tag-bindings", func(w http.ResponseWriter, r *http.Request) error {
			bs, err := kind.own(h, r, r.PathValue("id"))
			if err != nil {
				return err
			}
			return writeBindings(w, r.PathValue("id"), bs)
		})
		// The relationship is replaced as a whole; PATCH on the collection
		// adds to it (or changes a key's value), as go-tfe's AddTagBindings
		// expects.
		for path, write := range map[string]func(*API, *http.Request, string, []tag.Binding) ([]tag.Binding, error){
			"/relationships/tag-bindings": kind.set, "/tag-bindings": kind.add,
		} {
			route("PATCH "+kind.prefix+path, func(w http.ResponseWriter, r *http.Request) error {
				in, err := decodeBindings(r)
				if err != nil {
					return err
				}
				bs, err := write(h, r, r.PathValue("id"), in)
				if err != nil {
					return err
				}
				return writeBindings(w, r.PathValue("id"), bs)
			})
		}
		route("GET "+kind.prefix+"/effective-tag-bindings", func(w http.ResponseWriter, r *http.Request) error {
			bs, err := kind.effective(h, r, r.PathValue("id"))
			if err != nil {
				return err
			}
			out := effectiveBindings(r.PathValue("id"), bs)
			return writeMany(w, out)
		})
	}
}

func writeBindings(w http.ResponseWriter, target string, bs []tag.Binding) error {
	out := make([]*tagBindingJSON, 0, len(bs))
	for _, b := range bs {
		out = append(out, &tagBindingJSON{ID: bindingID(target, b.Key), Key: b.Key, Value: b.Value})
	}
	return writeMany(w, out)
}

// writeMany sends a list that HCP Terraform does not paginate.
func writeMany(w http.ResponseWriter, models any) error {
	p, err := jsonapi.Marshal(models)
	if err != nil {
		return err
	}
	return send(w, http.StatusOK, p)
}

// decodeBindings reads a tag-bindings collection: each of type
// tag-bindings with a key and a value, nothing else.
func decodeBindings(r *http.Request) ([]tag.Binding, error) {
	b, err := respond.ReadBody(r)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Data []struct {
			Type       string                     `json:"type"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &doc) != nil || doc.Data == nil {
		return nil, errMalformed{"request body must be a JSON:API collection of tag-bindings"}
	}
	return parseBindings(doc.Data)
}

func parseBindings(data []struct {
	Type       string                     `json:"type"`
	Attributes map[string]json.RawMessage `json:"attributes"`
}) ([]tag.Binding, error) {
	out := make([]tag.Binding, 0, len(data))
	for _, d := range data {
		if d.Type != "tag-bindings" {
			return nil, fail.Invalidf("data.type is %q; tag bindings are of type %q", fail.Clip(d.Type), "tag-bindings")
		}
		var tb tag.Binding
		for name, raw := range d.Attributes {
			var dst *string
			switch name {
			case "key":
				dst = &tb.Key
			case "value":
				dst = &tb.Value
			default:
				return nil, fail.Invalidf("attribute %q is read-only or not supported by runcred on tag-bindings", fail.Clip(name))
			}
			if json.Unmarshal(raw, dst) != nil {
				return nil, fail.Invalidf("tag binding attribute %q must be a string", name)
			}
		}
		out = append(out, tb)
	}
	return out, nil
}
