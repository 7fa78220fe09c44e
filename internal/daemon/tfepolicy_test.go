package daemon_test

import (
	"testing"

	"github.com/runcred/runcred/internal/daemon/daemontest"
)

// TestTFEProviderPolicies manages an OPA policy, a policy set of kind opa
// and its parameters (one sensitive) with the real tfe provider: create,
// update, import and destroy, with a clean plan after each step. (tfe_policy is not imported:
// the provider reads an OPA policy's query back only when the state
// already says kind "opa", which an import's does not yet.)
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
}
