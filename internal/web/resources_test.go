package web

import (
	"reflect"
	"testing"
)

func TestPlanChanges(t *testing.T) {
	plan := `{"resource_changes":[
 {"address":"b.y","change":{"actions":["delete","create"],"after":{"password":"hunter2"}}},
 {"address":"a.x","change":{"actions":["create"]}},
 {"address":"c.z","change":{"actions":["no-op"]}},
 {"address":"d.w","change":{"actions":["update"]}},
 {"address":"e.v","change":{"actions":["delete"]}},
 {"address":"data.f.u","change":{"actions":["read"]}}]}`
	got, err := planChanges([]byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	want := []resourceChange{{"a.x", "create", "+"}, {"b.y", "replace", "±"}, {"d.w", "update", "~"}, {"data.f.u", "read", "<="}, {"e.v", "delete", "−"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("planChanges = %v, want %v", got, want)
	}
	if _, err := planChanges([]byte(`{"resource_changes":`)); err == nil {
		t.Error("a broken plan was read")
	}
}

// FuzzPlanChanges: any bytes give changes with known actions, or an error.
func FuzzPlanChanges(f *testing.F) {
	f.Add([]byte(`{"resource_changes":[{"address":"a.x","change":{"actions":["create"]}}]}`))
	f.Add([]byte(`{"resource_changes":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := planChanges(b)
		if err != nil {
			return
		}
		for _, c := range got {
			switch c.Action {
			case "create", "update", "delete", "replace", "read":
			default:
				t.Fatalf("action %q from %q", c.Action, b)
			}
		}
	})
}
