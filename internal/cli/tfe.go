package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/spf13/cobra"

	"github.com/runcred/runcred/internal/fail"
	"github.com/runcred/runcred/internal/identity"
)

// The operator verbs (workspace, var, run, state) speak the HCP Terraform
// API v2 that runcred serves under /api/v2, through go-tfe: what works for
// them works for every other go-tfe client, and nothing here knows the
// server's internals.

// tfeClient is a go-tfe client of one runcred server.
type tfeClient struct {
	api  *tfe.Client
	addr string
}

// tfeFlags adds --addr and --token to cmd, resolved as the other
// client verbs resolve them, and returns a constructor of a go-tfe client.
func tfeFlags(cmd *cobra.Command, getenv env) func() (*tfeClient, error) {
	newClient := clientFlags(cmd, getenv)
	return func() (*tfeClient, error) {
		c, err := newClient()
		if err != nil {
			return nil, err
		}
		// go-tfe refuses to start without one; say which settings provide it.
		if c.token == "" {
			return nil, fail.Unauthenticatedf("no API token: pass --token or set RUNCRED_TOKEN or RUNCRED_TOKEN_FILE")
		}
		// go-tfe's own client has no overall timeout (uploads and log
		// streams may take long); this one only adds --ca-cert's trust.
		hc := *c.http
		hc.Timeout = 0
		api, err := tfe.NewClient(&tfe.Config{Address: c.addr, Token: c.token, HTTPClient: &hc})
		if err != nil {
			return nil, fmt.Errorf("cannot reach runcred at %s: %w", c.addr, err)
		}
		return &tfeClient{api: api, addr: c.addr}, nil
	}
}

// workspaceRef names a workspace as ORG/NAME.
type workspaceRef struct{ org, name string }

func (r workspaceRef) String() string { return r.org + "/" + r.name }

// parseWorkspaceRef reads ORG/NAME and checks both names against runcred's
// rules, so a typo is reported here rather than as a 404.
func parseWorkspaceRef(s string) (workspaceRef, error) {
	org, name, ok := strings.Cut(s, "/")
	if !ok || org == "" || name == "" || strings.Contains(name, "/") {
		return workspaceRef{}, fail.Invalidf("%s is not ORG/NAME (an organization and a workspace joined by one '/')", quote(s))
	}
	if err := identity.ValidOrganizationName(org); err != nil {
		return workspaceRef{}, err
	}
	if err := identity.ValidWorkspaceName(name); err != nil {
		return workspaceRef{}, err
	}
	return workspaceRef{org: org, name: name}, nil
}

var runIDRe = regexp.MustCompile(`^run-[A-Za-z0-9]{1,64}$`)

func parseRunID(s string) (string, error) {
	if !runIDRe.MatchString(s) {
		return "", fail.Invalidf("%s is not a run ID (run-...)", quote(s))
	}
	return s, nil
}

// workspace reads the workspace ref names.
func (p *tfeClient) workspace(ctx context.Context, ref workspaceRef) (*tfe.Workspace, error) {
	ws, err := p.api.Workspaces.Read(ctx, ref.org, ref.name)
	return ws, explain(err, "workspace "+ref.String())
}

// The verbs check their arguments before they connect, so a typo is
// reported ahead of a missing token; these helpers keep that order.

// openWorkspace connects and reads the workspace ref names.
func openWorkspace(ctx context.Context, newClient func() (*tfeClient, error), ref workspaceRef) (*tfeClient, *tfe.Workspace, error) {
	c, err := newClient()
	if err != nil {
		return nil, nil, err
	}
	ws, err := c.workspace(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	return c, ws, nil
}

// workspaceArg parses arg as ORG/NAME, then connects and reads that workspace.
func workspaceArg(ctx context.Context, newClient func() (*tfeClient, error), arg string) (*tfeClient, workspaceRef, *tfe.Workspace, error) {
	ref, err := parseWorkspaceRef(arg)
	if err != nil {
		return nil, workspaceRef{}, nil, err
	}
	c, ws, err := openWorkspace(ctx, newClient, ref)
	return c, ref, ws, err
}

// runArg parses arg as a run ID, then connects.
func runArg(newClient func() (*tfeClient, error), arg string) (*tfeClient, string, error) {
	id, err := parseRunID(arg)
	if err != nil {
		return nil, "", err
	}
	c, err := newClient()
	return c, id, err
}

// eachPage reads a go-tfe list 100 items at a time: it calls read with page
// 1, then with each next page the server reports, until there is none. read
// stops early by returning an error or a nil pagination.
func eachPage(read func(tfe.ListOptions) (*tfe.Pagination, error)) error {
	o := tfe.ListOptions{PageNumber: 1, PageSize: 100}
	for {
		p, err := read(o)
		if err != nil || p == nil || p.NextPage == 0 {
			return err
		}
		o.PageNumber = p.NextPage
	}
}

// newTable returns the writer that aligns the columns of a listing.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// printFields writes one "Name:  value" line per row, values aligned.
func printFields(w io.Writer, rows [][2]string) error {
	tw := newTable(w)
	for _, row := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// explain turns a go-tfe error into one of runcred's kinds with a message
// that names what was asked for. The server answers 404 both for what does
// not exist and for what the token may not see (as HCP Terraform does), so
// the message says both.
func explain(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tfe.ErrResourceNotFound):
		return fail.NotFoundf("%s not found, or the token may not see it", what)
	case errors.Is(err, tfe.ErrUnauthorized):
		return fail.Unauthenticatedf("the server did not accept the API token (missing, expired or revoked)")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	// go-tfe joins a JSON:API error's title and detail with a blank line.
	msg := strings.ReplaceAll(err.Error(), "\n\n", ": ")
	switch {
	case strings.HasPrefix(msg, "invalid attribute"), strings.HasPrefix(msg, "bad request"):
		return fail.Wrap(fail.Invalid, nil, msg)
	case strings.HasPrefix(msg, "conflict"):
		return fail.Wrap(fail.Conflict, nil, msg)
	}
	return errors.New(msg)
}

// quote shows s as it is when it is plain text and Go-quoted otherwise, so
// a value someone else wrote cannot move the cursor or split a table row.
func quote(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// orDash shows an empty field as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return quote(s)
}
