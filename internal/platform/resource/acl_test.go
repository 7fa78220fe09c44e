package resource

import "testing"

func TestPolicyBodyFoldsRules(t *testing.T) {
	got := PolicyBody("h", []Rule{
		{Path: "a", Caps: []string{"read"}},
		{Path: "b", Caps: []string{"list"}},
		{Path: "a", Caps: []string{"update", "read"}},
		{Path: "c", Caps: []string{"read"}},
		{Path: "c", Caps: []string{"deny"}},
	})
	want := "# h\n" +
		`path "a" { capabilities = ["read", "update"] }` + "\n" +
		`path "b" { capabilities = ["list"] }` + "\n" +
		`path "c" { capabilities = ["deny"] }` + "\n"
	if got != want {
		t.Fatalf("PolicyBody =\n%s\nwant\n%s", got, want)
	}
}
