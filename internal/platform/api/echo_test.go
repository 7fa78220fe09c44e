package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// patchSensitive sets a new value on the sensitive variable at url (a
// workspace's or a variable set's) over raw HTTP and requires the response
// to hold it nowhere: the value of a sensitive variable is write-only, on
// update as on create and read.
func patchSensitive(t *testing.T, url, id, value string) {
	t.Helper()
	code, body := sendRaw(t, "PATCH", url, "root-token",
		`{"data":{"type":"vars","id":"`+id+`","attributes":{"value":"`+value+`"}}}`)
	if code != 200 {
		t.Fatalf("PATCH %s = %d: %s", url, code, body)
	}
	if strings.Contains(body, value) {
		t.Fatalf("the update's response echoes the sensitive value: %s", body)
	}
	var doc struct {
		Data struct {
			ID         string         `json:"id"`
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if a := doc.Data.Attributes; doc.Data.ID != id || a["sensitive"] != true || a["value"] != "" {
		t.Fatalf("the update's response = %s, want the variable, sensitive, with an empty value", body)
	}
}
