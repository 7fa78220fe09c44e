package api

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/runcred/runcred/internal/fail"
)

// A request document is held to its input model: the resource type must be
// the model's and every attribute one the model declares. HCP Terraform
// ignores what it does not know; runcred refuses it, naming it, so that a
// setting it does not have is never accepted and silently dropped. Read-only
// attributes (ids, timestamps, permissions) are not in any input model and
// are refused the same way.

// schema is what an input model accepts.
type schema struct {
	typ   string
	attrs map[string]bool
	rels  map[string]bool
}

// relationsReader is a model whose handler reads relationships the model
// does not declare from the raw document.
type relationsReader interface{ rawRelations() []string }

var schemas sync.Map // reflect.Type → schema

// schemaOf reads model's jsonapi tags: the primary type and the attributes.
func schemaOf(model any) schema {
	t := reflect.TypeOf(model)
	if s, ok := schemas.Load(t); ok {
		return s.(schema)
	}
	s := schema{attrs: map[string]bool{}, rels: map[string]bool{}}
	if rr, ok := model.(relationsReader); ok {
		for _, name := range rr.rawRelations() {
			s.rels[name] = true
		}
	}
	st := t
	for st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() == reflect.Struct {
		for i := range st.NumField() {
			parts := strings.Split(st.Field(i).Tag.Get("jsonapi"), ",")
			if len(parts) < 2 {
				continue
			}
			switch parts[0] {
			case "primary":
				s.typ = parts[1]
			case "attr":
				s.attrs[parts[1]] = true
			case "relation", "polyrelation":
				s.rels[parts[1]] = true
			}
		}
	}
	schemas.Store(t, s)
	return s
}

// checkDocument refuses a document of another type than model's, or with an
// attribute model does not accept. A document it cannot read is left to the
// JSON:API decoder to refuse.
func checkDocument(b []byte, model any) error {
	var doc struct {
		Data *struct {
			Type          *string                    `json:"type"`
			Attributes    map[string]json.RawMessage `json:"attributes"`
			Relationships map[string]json.RawMessage `json:"relationships"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &doc) != nil || doc.Data == nil {
		return nil
	}
	s := schemaOf(model)
	if s.typ == "" {
		return nil
	}
	if doc.Data.Type == nil || *doc.Data.Type != s.typ {
		got := "none"
		if doc.Data.Type != nil {
			got = `"` + fail.Clip(*doc.Data.Type) + `"`
		}
		return fail.Invalidf(`data.type is %s; this endpoint takes %q`, got, s.typ)
	}
	var unknown []string
	for name := range doc.Data.Attributes {
		if !s.attrs[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fail.Invalidf("attribute %q is read-only or not supported by runcred on %s", fail.Clip(unknown[0]), s.typ)
	}
	for name := range doc.Data.Relationships {
		if !s.rels[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fail.Invalidf("relationship %q is read-only or not supported by runcred on %s", fail.Clip(unknown[0]), s.typ)
	}
	return nil
}

// settled refuses an attribute runcred has one way at any other value.
func settled[T comparable](name string, got *T, want T) error {
	if got != nil && *got != want {
		return fail.Invalidf("attribute %q: runcred supports only %v", name, want)
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
