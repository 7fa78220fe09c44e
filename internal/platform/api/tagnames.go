package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/platform/tag"
	"github.com/runcred/runcred/internal/respond"
)

// HCP Terraform's older flat tags ("tag names") are what the CLIs' cloud
// block selects workspaces by (workspaces { tags = [...] }). runcred keeps
// one kind of tag: a tag name is a workspace's own tag binding with that
// key and an empty value. So a workspace created with tag names gets those
// bindings, tag-names lists its key-only bindings, and search[tags] finds
// the workspaces that have every one of them.

// tagNameBindings reads a tags relationship's data: each of type tags
// with a name, nothing else.
func tagNameBindings(data []json.RawMessage) ([]tag.Binding, error) {
	out := make([]tag.Binding, 0, len(data))
	for _, raw := range data {
		var d struct {
			Type       string                     `json:"type"`
			ID         string                     `json:"id"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		}
		if json.Unmarshal(raw, &d) != nil || d.Type != "tags" {
			return nil, fail.Invalidf("a tag name is of type %q with a name attribute", "tags")
		}
		var name string
		for k, v := range d.Attributes {
			if k != "name" {
				return nil, fail.Invalidf("attribute %q is read-only or not supported by runcred on tags", fail.Clip(k))
			}
			if json.Unmarshal(v, &name) != nil {
				return nil, fail.Invalidf("tag attribute %q must be a string", "name")
			}
		}
		if name == "" {
			return nil, fail.Invalidf("a tag name is of type %q with a name attribute", "tags")
		}
		out = append(out, tag.Binding{Key: name})
	}
	return out, nil
}

// tagNames are the names among a workspace's own bindings: the keys of
// those without a value, sorted.
func tagNames(bs []tag.Binding) []string {
	out := []string{}
	for _, b := range bs {
		if b.Value == "" {
			out = append(out, b.Key)
		}
	}
	sort.Strings(out)
	return out
}

// searchTags is the search[tags] filter: comma-separated names.
func searchTags(r *http.Request) []string {
	var out []string
	for _, s := range strings.Split(r.URL.Query().Get("search[tags]"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addTagNames adds tag names to a workspace (POST
// /workspaces/{id}/relationships/tags); HCP Terraform answers 204.
func (h *API) addTagNames(w http.ResponseWriter, r *http.Request) error {
	b, err := respond.ReadBody(r)
	if err != nil {
		return err
	}
	var doc struct {
		Data []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(b, &doc) != nil || doc.Data == nil {
		return errMalformed{"request body must be a JSON:API collection of tags"}
	}
	bs, err := tagNameBindings(doc.Data)
	if err != nil {
		return err
	}
	if err := tag.Valid(bs); err != nil {
		return err
	}
	ws, err := h.target(r)
	if err != nil {
		return err
	}
	if _, err := h.Service.Tags.AddWorkspace(r.Context(), ws.ID, bs); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
