package daemon_test

import (
	"strings"
	"testing"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// TestTFEProviderPolicies manages an OPA policy, a policy set of kind opa
// and its parameters (one sensitive) with the real tfe provider: create,
// update, import and destroy, with a clean plan after each step.
func TestTFEProviderPolicies(t *testing.T) { daemontest.Each(t, testTFEProviderPolicies) }

func testTFEProviderPolicies(t *testing.T, start daemontest.Starter) {
	srv := start(t, daemontest.TLS(t))
	w := newTFEWork(t, srv)
	byID := func(addr string) importer {
		return importer{addr, func(st map[string]map[string]any) string { return attr(st, addr, "id") }}
	}
	st := w.cycle(`
resource "tfe_organization" "acme" {
  name  = "acme"
  email = "ops@acme.test"
}
resource "tfe_workspace" "net" {
  organization = tfe_organization.acme.name
  name         = "net"
}
resource "tfe_policy" "size" {
  organization = tfe_organization.acme.name
  name         = "size"
  description  = "limits, generation ${var.gen}"
  kind         = "opa"
  query        = "data.terraform.policies.size.deny"
  enforce_mode = var.gen == 1 ? "advisory" : "mandatory"
  policy       = <<-EOT
    package terraform.policies.size
    deny contains "generation ${var.gen}" if false
  EOT
}
resource "tfe_policy_set" "limits" {
  organization  = tfe_organization.acme.name
  name          = "limits"
  description   = "generation ${var.gen}"
  kind          = "opa"
  overridable   = var.gen == 2
  policy_ids    = [tfe_policy.size.id]
  workspace_ids = [tfe_workspace.net.id]
}
resource "tfe_policy_set_parameter" "limit" {
  key           = "limit"
  value         = "${var.gen}"
  policy_set_id = tfe_policy_set.limits.id
}
resource "tfe_policy_set_parameter" "token" {
  key           = "token"
  value         = "s3cret-${var.gen}"
  sensitive     = true
  policy_set_id = tfe_policy_set.limits.id
}
`, []importer{
		byID("tfe_policy_set.limits"),
		{"tfe_policy_set_parameter.limit", func(st map[string]map[string]any) string {
			return attr(st, "tfe_policy_set.limits", "id") + "/" + attr(st, "tfe_policy_set_parameter.limit", "id")
		}},
	})
	if attr(st, "tfe_policy.size", "kind") != "opa" || attr(st, "tfe_policy_set.limits", "kind") != "opa" {
		t.Fatalf("state: %v", st)
	}

	// An imported tfe_policy: the provider writes its query once, then
	// nothing changes.
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(1))
	id := "acme/" + attr(w.state(), "tfe_policy.size", "id")
	w.run([]int{0}, "state", "rm", "tfe_policy.size")
	w.run([]int{0}, "import", "-input=false", gen(1), "tfe_policy.size", id)
	out, code := w.run([]int{0, 2}, "plan", "-input=false", "-detailed-exitcode", gen(1))
	if code != 2 || !strings.Contains(out, "0 to add, 1 to change, 0 to destroy") || !strings.Contains(out, `+ query        = "data.terraform.policies.size.deny"`) {
		t.Fatalf("plan after importing tfe_policy:\n%s", out)
	}
	w.run([]int{0}, "apply", "-input=false", "-auto-approve", gen(1))
	w.noDrift("after the imported policy's query", 1)
	w.run([]int{0}, "destroy", "-input=false", "-auto-approve", gen(1))
}
