// Command standin is a stand-in for the aws and vault providers, for
// recording plans offline: it declares the parts of their schemas the
// built-in policies read (the aws provider's assume_role and
// assume_role_with_web_identity blocks; the vault provider's credential
// data sources) and does nothing else. OpenTofu renders a configuration's
// JSON from the provider's schema, so the plans it records have the real
// shape; the values are the configurations' own. It serves as the provider
// its executable is named for (terraform-provider-aws_v… or
// terraform-provider-vault_v…).
package main

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type standin struct{ name string }

func (p standin) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = p.name
}

func str() schema.StringAttribute { return schema.StringAttribute{Optional: true} }

func (p standin) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	if p.name == "vault" {
		resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{"address": str(), "token": str(), "skip_child_token": schema.BoolAttribute{Optional: true}}}
		return
	}
	role := func(extra ...string) schema.ListNestedBlock {
		attrs := map[string]schema.Attribute{"role_arn": str(), "session_name": str(), "duration": str()}
		for _, e := range extra {
			attrs[e] = str()
		}
		return schema.ListNestedBlock{NestedObject: schema.NestedBlockObject{Attributes: attrs}}
	}
	resp.Schema = schema.Schema{
		Attributes: map[string]schema.Attribute{"region": str(), "profile": str()},
		Blocks: map[string]schema.Block{
			"assume_role":                   role("external_id", "source_identity"),
			"assume_role_with_web_identity": role("web_identity_token", "web_identity_token_file"),
		},
	}
}

func (standin) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {}

func (standin) Resources(context.Context) []func() resource.Resource { return nil }

func (p standin) DataSources(context.Context) []func() datasource.DataSource {
	if p.name != "vault" {
		return nil
	}
	return []func() datasource.DataSource{
		func() datasource.DataSource {
			return &secret{name: "aws_access_credentials", in: []string{"backend", "role", "type"}, out: []string{"access_key", "secret_key"}}
		},
		func() datasource.DataSource {
			return &secret{name: "generic_secret", in: []string{"path"}, out: []string{"data_json"}}
		},
		func() datasource.DataSource {
			return &secret{name: "kv_secret_v2", in: []string{"mount", "name"}, out: []string{"data_json"}}
		},
	}
}

// secret is a data source with string inputs and outputs; its outputs
// read as "stand-in".
type secret struct {
	name    string
	in, out []string
}

func (s *secret) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + s.name
}

func (s *secret) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := map[string]dschema.Attribute{}
	for _, a := range s.in {
		attrs[a] = dschema.StringAttribute{Optional: true}
	}
	for _, a := range s.out {
		attrs[a] = dschema.StringAttribute{Computed: true, Sensitive: true}
	}
	resp.Schema = dschema.Schema{Attributes: attrs}
}

func (s *secret) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	resp.State.Raw = req.Config.Raw.Copy()
	for _, a := range s.out {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, pathOf(a), types.StringValue("stand-in"))...)
	}
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "terraform-provider-")
	name, _, _ = strings.Cut(name, "_")
	err := providerserver.Serve(context.Background(), func() provider.Provider { return standin{name: name} },
		providerserver.ServeOpts{Address: "registry.opentofu.org/hashicorp/" + name})
	if err != nil {
		log.Fatal(err)
	}
}
