package resource

import (
	"context"

	"github.com/runcred/runcred/internal/access"
	"github.com/runcred/runcred/internal/fail"
)

// WriterKind says what kind of principal last wrote a variable.
type WriterKind string

const (
	WriterUser WriterKind = "user"
	WriterTeam WriterKind = "team"
	WriterRun  WriterKind = "run"
)

// Caller metadata keys the daemon sets on tokens it issues to teams and to
// runs, from which a write's provenance is derived (see WriterOf).
const (
	MetaTeamID      = "team_id"
	MetaRunID       = "run_id"
	MetaWorkspaceID = "workspace_id" // the workspace of the run in MetaRunID
)

// Writer is who made a change: a user (ID is the token accessor), a team
// token (ID is the team) or a run (ID is the run, WorkspaceID the workspace
// it ran in — typically a manager workspace writing another's variables).
type Writer struct {
	Kind        WriterKind `json:"kind"`
	ID          string     `json:"id"`
	Name        string     `json:"name,omitempty"`         // display name, for people; not for decisions
	WorkspaceID string     `json:"workspace_id,omitempty"` // set only for WriterRun
}

// WriterOf derives a write's provenance from the caller: a run token names
// its run and workspace, a team token its team; anything else is a user.
func WriterOf(ctx context.Context) (Writer, error) {
	c, ok := access.CallerFrom(ctx)
	if !ok {
		return Writer{}, fail.Unauthenticatedf("missing client token")
	}
	switch {
	case c.Meta[MetaRunID] != "":
		return Writer{Kind: WriterRun, ID: c.Meta[MetaRunID], Name: c.DisplayName, WorkspaceID: c.Meta[MetaWorkspaceID]}, nil
	case c.Meta[MetaTeamID] != "":
		return Writer{Kind: WriterTeam, ID: c.Meta[MetaTeamID], Name: c.DisplayName}, nil
	}
	id := c.Accessor
	if id == "" {
		id = c.DisplayName
	}
	return Writer{Kind: WriterUser, ID: id, Name: c.DisplayName}, nil
}

// MetaAgentPoolID is the caller metadata key naming an agent token's pool,
// so an agent can learn which pool's jobs to claim from its token.
const MetaAgentPoolID = "agent_pool_id"
