package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/runcred/runcred/internal/fail"
)

// Input is what a policy sees, converted to OPA's representation once per
// run and shared by every set's evaluation:
//
//	input.plan  the run's JSON plan (`tofu show -json`) as runcred stores
//	            it, with every secret the run handled already masked
//	input.run   Run: facts about the run the workspace cannot influence
type Input struct {
	value ast.Value
}

// MaxPlanBytes bounds the plan NewInput accepts. OPA's form of a plan
// takes about ten times its JSON size in memory (145 MiB for an 11 MB,
// 15,000-resource plan).
const MaxPlanBytes = 128 << 20

// Run is input.run: HCP Terraform's run data for policies (its tfrun
// schema, without cost estimates) plus what runcred knows that HCP does
// not: each phase's resolved credential settings and every variable's
// provenance. The platform fills it from its own records, never from the
// configuration or the plan.
type Run struct {
	ID           string       `json:"id"`
	CreatedAt    time.Time    `json:"created_at"`
	CreatedBy    string       `json:"created_by"` // user name, or "" for a run no user created
	Message      string       `json:"message"`
	CommitSHA    string       `json:"commit_sha"`
	IsDestroy    bool         `json:"is_destroy"`
	Refresh      bool         `json:"refresh"`
	RefreshOnly  bool         `json:"refresh_only"`
	ReplaceAddrs []string     `json:"replace_addrs"`
	Speculative  bool         `json:"speculative"`
	TargetAddrs  []string     `json:"target_addrs"`
	Organization Organization `json:"organization"`
	Project      Project      `json:"project"`
	Workspace    Workspace    `json:"workspace"`
	// Variables are every variable of the run, from the workspace and its
	// variable sets, as the run resolved them. NewInput writes them twice:
	// as input.run.variables, keyed by name as in HCP Terraform (when a
	// terraform and an env variable share a name, the terraform one), and
	// as input.run.variable_list, every one of them.
	Variables []Variable `json:"-"`
	// Credentials are each phase's resolved workload-identity settings.
	Credentials Credentials `json:"credentials"`
}

// Organization is input.run.organization.
type Organization struct {
	Name string `json:"name"`
}

// Project is input.run.project.
type Project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Workspace is input.run.workspace.
type Workspace struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	CreatedAt        time.Time `json:"created_at"`
	Description      string    `json:"description"`
	ExecutionMode    string    `json:"execution_mode"`
	AutoApply        bool      `json:"auto_apply"`
	Tags             []string  `json:"tags"`
	WorkingDirectory string    `json:"working_directory"`
}

// Variable categories, as input.run carries them.
const (
	CategoryTerraform = "terraform"
	CategoryEnv       = "env"
)

// Variable is one variable of the run and where its value came from. It
// never carries the value: ValueHMAC lets a policy compare values without
// seeing them (HMAC-SHA256 under a key of the installation, so a
// low-entropy secret cannot be found by hashing guesses, as a bare SHA-256
// would allow).
type Variable struct {
	Key       string `json:"key"`
	Category  string `json:"category"` // CategoryTerraform or CategoryEnv
	Sensitive bool   `json:"sensitive"`
	HCL       bool   `json:"hcl"`
	// VariableSet is the ID of the variable set the value came from, ""
	// for a workspace variable.
	VariableSet string `json:"variable_set"`
	// LastWriter is who last wrote the value.
	LastWriter Writer `json:"last_writer"`
	// ManagedBy is the name of the workspace that manages the variable
	// (whose runs publish its value), "" when none does.
	ManagedBy string `json:"managed_by"`
	// ValueHMAC is the hex HMAC-SHA256 of the value the run uses.
	ValueHMAC string `json:"value_hmac"`
	// ManagerValueHMAC is the hex HMAC-SHA256 of the value ManagedBy last
	// wrote, "" when it never wrote one.
	ManagerValueHMAC string `json:"manager_value_hmac"`
}

// Writer kinds.
const (
	WriterUser      = "user"
	WriterTeamToken = "team_token"
	WriterOrgToken  = "organization_token"
	WriterRun       = "run" // a run of Workspace wrote it (a managing workspace)
)

// Writer is who wrote a variable's value.
type Writer struct {
	Kind string `json:"kind"` // a Writer* constant
	// Name is the user's name, the team's name, or the run's ID.
	Name string `json:"name"`
	// Workspace is the writing run's workspace name (WriterRun only).
	Workspace string `json:"workspace"`
}

// Credentials are the resolved workload-identity settings of a run's
// phases (the TFC_* variables after defaults and tags).
type Credentials struct {
	Plan  PhaseCredentials `json:"plan"`
	Apply PhaseCredentials `json:"apply"`
}

// PhaseCredentials are one phase's resolved settings. A slice holds the
// default configuration (Tag "") and each tagged one (TFC_AWS_*_<TAG>).
type PhaseCredentials struct {
	AWS            []AWSCredential     `json:"aws"`
	Vault          []VaultCredential   `json:"vault"`
	VaultBackedAWS []VaultBackedAWS    `json:"vault_backed_aws"`
	Other          []GenericCredential `json:"other"`
}

// AWSCredential is TFC_AWS_PROVIDER_AUTH's resolved settings.
type AWSCredential struct {
	Tag      string `json:"tag"`
	RoleARN  string `json:"role_arn"`
	Audience string `json:"audience"`
}

// VaultCredential is TFC_VAULT_PROVIDER_AUTH's resolved settings. AuthType
// is "jwt" (Role and Audience set) or "approle" (RoleIDVariable and
// SecretIDVariable name the variables the agent logs in with).
type VaultCredential struct {
	Tag              string `json:"tag"`
	Address          string `json:"address"`
	Namespace        string `json:"namespace"`
	AuthType         string `json:"auth_type"`
	AuthPath         string `json:"auth_path"`
	Role             string `json:"role"`
	Audience         string `json:"audience"`
	RoleIDVariable   string `json:"role_id_variable"`
	SecretIDVariable string `json:"secret_id_variable"`
}

// VaultBackedAWS is TFC_VAULT_BACKED_AWS_AUTH's resolved settings.
type VaultBackedAWS struct {
	Tag       string `json:"tag"`
	MountPath string `json:"mount_path"`
	VaultRole string `json:"vault_role"`
	AuthType  string `json:"auth_type"`
	RoleARN   string `json:"role_arn"` // "" when the Vault role names it
}

// GenericCredential is another provider's settings (GCP, Azure): a kind
// and its settings by name.
type GenericCredential struct {
	Kind     string            `json:"kind"`
	Tag      string            `json:"tag"`
	Audience string            `json:"audience"`
	Settings map[string]string `json:"settings"`
}

// runJSON is Run as policies see it.
type runJSON struct {
	Run
	VariablesByName map[string]Variable `json:"variables"`
	VariableList    []Variable          `json:"variable_list"`
}

// NewInput converts a run's stored JSON plan and its run data into the
// input every policy set of the run is evaluated against.
func NewInput(plan []byte, run Run) (*Input, error) {
	if len(plan) > MaxPlanBytes {
		return nil, fail.Invalidf("the JSON plan is %d bytes, more than the %d a policy check reads", len(plan), MaxPlanBytes)
	}
	pv, err := jsonToValue(plan)
	if err != nil {
		return nil, fail.Wrap(fail.Invalid, err, "the JSON plan is not one JSON object")
	}
	if _, ok := pv.(ast.Object); !ok {
		return nil, fail.Invalidf("the JSON plan is not a JSON object")
	}
	rb, err := runDocument(run)
	if err != nil {
		return nil, err
	}
	rv, err := jsonToValue(rb)
	if err != nil {
		return nil, fmt.Errorf("converting the run for policies: %w", err)
	}
	return &Input{value: ast.NewObject(
		ast.Item(ast.StringTerm("plan"), ast.NewTerm(pv)),
		ast.Item(ast.StringTerm("run"), ast.NewTerm(rv)),
	)}, nil
}

// runDocument is input.run as JSON (testdata/input-run.json shows one).
func runDocument(run Run) ([]byte, error) {
	// Lists are lists, never null, so a policy can count them.
	run.ReplaceAddrs = orEmpty(run.ReplaceAddrs)
	run.TargetAddrs = orEmpty(run.TargetAddrs)
	run.Workspace.Tags = orEmpty(run.Workspace.Tags)
	rj := runJSON{Run: run, VariablesByName: map[string]Variable{}, VariableList: run.Variables}
	if rj.VariableList == nil {
		rj.VariableList = []Variable{}
	}
	for _, v := range run.Variables {
		if old, dup := rj.VariablesByName[v.Key]; !dup || old.Category != CategoryTerraform {
			rj.VariablesByName[v.Key] = v
		}
	}
	b, err := json.Marshal(rj)
	if err != nil {
		return nil, fmt.Errorf("encoding the run for policies: %w", err)
	}
	return b, nil
}

func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// MarshalJSON writes each list, empty ones as [].
func (p PhaseCredentials) MarshalJSON() ([]byte, error) {
	type plain PhaseCredentials
	return json.Marshal(plain{AWS: orEmpty(p.AWS), Vault: orEmpty(p.Vault), VaultBackedAWS: orEmpty(p.VaultBackedAWS), Other: orEmpty(p.Other)})
}

// jsonToValue decodes exactly one JSON value, numbers kept exact.
func jsonToValue(b []byte) (ast.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return ast.InterfaceToValue(v)
}
