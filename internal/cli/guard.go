package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
)

// guardLists are the credential guard's lists: flag name, API attribute.
var guardLists = [][2]string{
	{"audience", "audiences"}, {"vault-address", "vault-addresses"}, {"vault-auth-path", "vault-auth-paths"},
	{"vault-role", "vault-roles"}, {"aws-role-arn", "aws-role-arns"},
}

func guardCmd(getenv env, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "guard", Short: "Show or change the credential guard's allowlists of an organization or project"}
	newClient := clientFlags(cmd, getenv)
	var project string
	cmd.PersistentFlags().StringVar(&project, "project", "", "a project's allowlists (its prj- id) instead of the organization's")
	path := func(org string) string {
		if project != "" {
			return "/api/v2/projects/" + url.PathEscape(project) + "/runcred-credential-guard"
		}
		return "/api/v2/organizations/" + url.PathEscape(org) + "/runcred-credential-guard"
	}
	show := &cobra.Command{
		Use:   "show ORG",
		Short: "Print the allowlists and what every phase may use without them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			attrs, err := guardRequest(cmd.Context(), c, "GET", path(args[0]), nil)
			if err != nil {
				return err
			}
			printGuard(stdout, attrs)
			return nil
		},
	}
	set := &cobra.Command{
		Use:   "set ORG",
		Short: "Replace the lists named by flags (an organization owner's right); --clear LIST empties one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs := map[string]any{}
			for _, l := range guardLists {
				if cmd.Flags().Changed(l[0]) {
					v, _ := cmd.Flags().GetStringArray(l[0])
					attrs[l[1]] = v
				}
			}
			clears, _ := cmd.Flags().GetStringArray("clear")
			for _, name := range clears {
				if !isGuardList(name) {
					return fail.Invalidf("--clear %q: not one of audiences, vault-addresses, vault-auth-paths, vault-roles, aws-role-arns", name)
				}
				if _, both := attrs[name]; both {
					return fail.Invalidf("--clear %s and entries for it: choose one", name)
				}
				attrs[name] = []string{}
			}
			if len(attrs) == 0 {
				return fail.Invalidf("nothing to change: name entries (--vault-address, --audience, …) or --clear LIST")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			doc := map[string]any{"data": map[string]any{"type": "runcred-credential-guards", "attributes": attrs}}
			got, err := guardRequest(cmd.Context(), c, "PATCH", path(args[0]), doc)
			if err != nil {
				return err
			}
			printGuard(stdout, got)
			return nil
		},
	}
	for _, l := range guardLists {
		set.Flags().StringArray(l[0], nil, "an entry of "+l[1]+" (repeat for more); the list becomes exactly these")
	}
	set.Flags().StringArray("clear", nil, "a list to empty (audiences, vault-addresses, …)")
	cmd.AddCommand(show, set)
	return cmd
}

func isGuardList(name string) bool {
	for _, l := range guardLists {
		if l[1] == name {
			return true
		}
	}
	return false
}

// guardRequest sends one JSON:API request and returns data.attributes; a
// refusal becomes an error carrying the server's detail.
func guardRequest(ctx context.Context, c *client, method, path string, doc any) (map[string]any, error) {
	var body io.Reader
	if doc != nil {
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, body)
	if err != nil {
		return nil, fail.Invalidf("server address %q: %s", c.addr, err.Error())
	}
	req.Header.Set("Content-Type", "application/vnd.api+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach runcred at %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var out struct {
		Data struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
		Errors []struct{ Title, Detail string } `json:"errors"`
	}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode >= 300 {
		msg := http.StatusText(resp.StatusCode)
		if len(out.Errors) > 0 {
			msg = strings.TrimSuffix(out.Errors[0].Title+": "+out.Errors[0].Detail, ": ")
		}
		if resp.StatusCode == http.StatusUnprocessableEntity || resp.StatusCode == http.StatusBadRequest {
			return nil, fail.Invalidf("%s", msg)
		}
		return nil, &APIError{Status: resp.StatusCode, Errors: []string{msg}}
	}
	return out.Data.Attributes, nil
}

func printGuard(w io.Writer, attrs map[string]any) {
	list := func(key string) string {
		vs, _ := attrs[key].([]any)
		if len(vs) == 0 {
			return "-"
		}
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "Scope:             %v\n", attrs["scope"])
	fmt.Fprintf(w, "Audiences:         %s (built in: %s)\n", list("audiences"), list("built-in-audiences"))
	fmt.Fprintf(w, "Vault addresses:   %s (built in: %s)\n", list("vault-addresses"), list("built-in-vault-addresses"))
	fmt.Fprintf(w, "Vault auth paths:  %s\n", list("vault-auth-paths"))
	fmt.Fprintf(w, "Vault roles:       %s\n", list("vault-roles"))
	fmt.Fprintf(w, "AWS role ARNs:     %s\n", list("aws-role-arns"))
}
